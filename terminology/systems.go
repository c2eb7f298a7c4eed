package terminology

// Code system and identifier system URIs, exactly as MAPPING.md §7 gives them.
// Where profiles disagree (HCPCS, ICD-9 procedures, ICD-9-CM), one constant per
// form is given and its doc says which profile expects it.
const (
	// SystemICD10CM is ICD-10-CM (diagnoses), codes written with a point
	// after the 3rd character (J20.9); see [NormalizeICD10CM].
	SystemICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
	// SystemICD10PCS is ICD-10-PCS (inpatient procedures), 7 characters with
	// no point; see [NormalizeICD10PCS].
	SystemICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
	// SystemICD9CM is ICD-9-CM diagnoses as C4BB names it (also ICD-9
	// procedures in C4BB 2.2.0); see [NormalizeICD9CM].
	SystemICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
	// SystemICD9CMTHO is the THO alias of ICD-9-CM that Da Vinci PAS uses.
	SystemICD9CMTHO = "http://terminology.hl7.org/CodeSystem/icd9cm"
	// SystemICD9Procedure is ICD-9-CM volume 3 procedures as C4BB 2.1.0
	// names them (C4BB 2.2.0 uses [SystemICD9CM]); see [NormalizeICD9Procedure].
	SystemICD9Procedure = "http://www.cms.gov/Medicare/Coding/ICD9"

	// SystemCPT is CPT (licensed by the AMA); see [NormalizeCPT].
	SystemCPT = "http://www.ama-assn.org/go/cpt"
	// SystemHCPCS is HCPCS Level II in the https form C4BB 2.1.0 (and 2.2.0)
	// value sets expect (MAPPING.md decision D2); see [NormalizeHCPCS].
	SystemHCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
	// SystemHCPCSTHO is HCPCS Level II in the http form of HL7 Terminology
	// (THO) and Da Vinci PAS (MAPPING.md decision D2).
	SystemHCPCSTHO = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
	// SystemHIPPS is the CMS HIPPS rate codes.
	SystemHIPPS = "https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/ProspMedicareFeeSvcPmtGen/HIPPSCodes"
	// SystemCDT is CDT dental procedures (licensed by the ADA); see [NormalizeCDT].
	SystemCDT = "http://www.ada.org/cdt"
	// SystemADAToothDesignation is the ADA universal tooth designation system.
	SystemADAToothDesignation = "http://terminology.hl7.org/CodeSystem/ADAUniversalToothDesignationSystem"
	// SystemADAAreaOralCavity is the ADA area of the oral cavity system.
	SystemADAAreaOralCavity = "http://terminology.hl7.org/CodeSystem/ADAAreaOralCavitySystem"
	// SystemADAToothSurface is the ADA tooth surface codes.
	SystemADAToothSurface = "http://terminology.hl7.org/CodeSystem/ADAToothSurfaceCodes"

	// SystemLOINC is LOINC.
	SystemLOINC = "http://loinc.org"
	// SystemSNOMEDCT is SNOMED CT.
	SystemSNOMEDCT = "http://snomed.info/sct"
	// SystemRxNorm is RxNorm.
	SystemRxNorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
	// SystemNDC is the National Drug Code: THO writes the 10-digit hyphenated
	// form, X12/CMS the 11-digit 5-4-2 form (MAPPING.md §3.3, D3); see
	// [NormalizeNDC11].
	SystemNDC = "http://hl7.org/fhir/sid/ndc"
	// SystemCVX is CDC vaccine codes.
	SystemCVX = "http://hl7.org/fhir/sid/cvx"
	// SystemUCUM is UCUM units.
	SystemUCUM = "http://unitsofmeasure.org"

	// SystemNUBCRevenue is NUBC revenue codes, 4 digits; see
	// [NormalizeRevenueCode]. Licensed by the AHA/NUBC.
	SystemNUBCRevenue = "https://www.nubc.org/CodeSystem/RevenueCodes"
	// SystemNUBCTypeOfBill is NUBC type of bill; see [ParseTypeOfBill].
	SystemNUBCTypeOfBill = "https://www.nubc.org/CodeSystem/TypeOfBill"
	// SystemNUBCPointOfOrigin is NUBC point of origin (non-newborn).
	SystemNUBCPointOfOrigin = "https://www.nubc.org/CodeSystem/PointOfOrigin"
	// SystemNUBCPointOfOriginNewborn is NUBC point of origin for newborns
	// (priority of admission 4).
	SystemNUBCPointOfOriginNewborn = "https://www.nubc.org/CodeSystem/PointOfOriginNewborn"
	// SystemNUBCPriorityOfAdmission is NUBC priority (type) of admission or visit.
	SystemNUBCPriorityOfAdmission = "https://www.nubc.org/CodeSystem/PriorityTypeOfAdmitOrVisit"
	// SystemNUBCDischargeStatus is NUBC patient discharge status as C4BB
	// names it; see [NormalizeDischargeStatus].
	SystemNUBCDischargeStatus = "https://www.nubc.org/CodeSystem/PatDischargeStatus"
	// SystemNUBCDischargeStatusR4 is the older URI of NUBC patient
	// discharge status in FHIR R4's registry.
	SystemNUBCDischargeStatusR4 = "http://www.nubc.org/patient-discharge"
	// SystemPresentOnAdmission is the present-on-admission indicator system
	// of the C4BB 2.1.0 binding.
	SystemPresentOnAdmission = "https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/HospitalAcqCond/Coding"
	// SystemMSDRG is MS-DRG.
	SystemMSDRG = "https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/AcuteInpatientPPS/MS-DRG-Classifications-and-Software"
	// SystemAPDRG is AP-DRG.
	SystemAPDRG = "http://uri.hddaccess.com/cs/apdrg"
	// SystemAPRDRG is APR-DRG.
	SystemAPRDRG = "http://uri.hddaccess.com/cs/aprdrg"
	// SystemPlaceOfService is the CMS place of service code set, 2 digits;
	// see [NormalizePlaceOfService].
	SystemPlaceOfService = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
	// SystemClaimFrequency is the Da Vinci PCT professional/dental claim
	// frequency code system (1, 7, 8).
	SystemClaimFrequency = "http://hl7.org/fhir/us/davinci-pct/CodeSystem/PCTGFEFrequency"

	// SystemCARC is X12 claim adjustment reason codes (licensed by X12).
	SystemCARC = "https://x12.org/codes/claim-adjustment-reason-codes"
	// SystemRARC is X12 remittance advice remark codes (licensed by X12).
	SystemRARC = "https://x12.org/codes/remittance-advice-remark-codes"
	// SystemCASGroup is the CAS group code system of CMS Blue Button (there
	// is no HL7/THO one).
	SystemCASGroup = "https://bluebutton.cms.gov/fhir/CodeSystem/ANSI-GRP-CODE"
	// SystemX12AmbulanceTransportReason is X12 ambulance transport reason codes.
	SystemX12AmbulanceTransportReason = "https://x12.org/codesystem.x12.org/ambulance-transport-reason-codes"
	// SystemX12Prefix is the prefix of the X12 code lists Da Vinci PAS uses,
	// followed by the data element number; see [X12CodeSystem].
	SystemX12Prefix = "https://codesystem.x12.org/005010/"
	// SystemX12ReviewDecisionReason is X12 external code list 886 (review
	// decision reasons), used by PAS.
	SystemX12ReviewDecisionReason = "https://codesystem.x12.org/external/886"

	// SystemNCPDPDispensedAsWritten is NCPDP DAW / product selection codes.
	SystemNCPDPDispensedAsWritten = "http://terminology.hl7.org/CodeSystem/NCPDPDispensedAsWrittenOrProductSelectionCode"
	// SystemNCPDPBrandGenericIndicator is NCPDP brand/generic indicator codes.
	SystemNCPDPBrandGenericIndicator = "http://terminology.hl7.org/CodeSystem/NCPDPBrandGenericIndicator"
	// SystemNCPDPPrescriptionOrigin is NCPDP prescription origin codes.
	SystemNCPDPPrescriptionOrigin = "http://terminology.hl7.org/CodeSystem/NCPDPPrescriptionOriginCode"
	// SystemNCPDPCompoundCode is NCPDP compound codes.
	SystemNCPDPCompoundCode = "http://terminology.hl7.org/CodeSystem/NCPDPCompoundCode"
	// SystemNCPDPRejectCode is NCPDP reject codes.
	SystemNCPDPRejectCode = "http://terminology.hl7.org/CodeSystem/NCPDPRejectCode"

	// SystemNUCCTaxonomy is the NUCC health care provider taxonomy.
	SystemNUCCTaxonomy = "http://nucc.org/provider-taxonomy"
	// ValueSetNUCCTaxonomy is the VSAC value set of NUCC taxonomy codes
	// (Plan-Net, C4BB).
	ValueSetNUCCTaxonomy = "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.114222.4.11.1066"

	// SystemClaimType is HL7 claim type.
	SystemClaimType = "http://terminology.hl7.org/CodeSystem/claim-type"
	// SystemAdjudication is HL7 adjudication categories.
	SystemAdjudication = "http://terminology.hl7.org/CodeSystem/adjudication"
	// SystemDiagnosisType is HL7 ex-diagnosistype.
	SystemDiagnosisType = "http://terminology.hl7.org/CodeSystem/ex-diagnosistype"
	// SystemCareTeamRole is HL7 claimcareteamrole (primary, supervisor).
	SystemCareTeamRole = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
	// SystemPayeeType is HL7 payeetype.
	SystemPayeeType = "http://terminology.hl7.org/CodeSystem/payeetype"
	// SystemRelatedClaimRelationship is HL7 ex-relatedclaimrelationship.
	SystemRelatedClaimRelationship = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
	// SystemClaimInformationCategory is HL7 claiminformationcategory (base Claim).
	SystemClaimInformationCategory = "http://terminology.hl7.org/CodeSystem/claiminformationcategory"
	// SystemProcessPriority is HL7 processpriority.
	SystemProcessPriority = "http://terminology.hl7.org/CodeSystem/processpriority"
	// SystemSubscriberRelationship is HL7 subscriber-relationship.
	SystemSubscriberRelationship = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
	// SystemCoverageClass is HL7 coverage-class.
	SystemCoverageClass = "http://terminology.hl7.org/CodeSystem/coverage-class"
	// SystemSOPT is the Source of Payment Typology (US Core Coverage.type).
	SystemSOPT = "https://nahdo.org/sopt"
	// ValueSetSOPT is the VSAC value set of SOPT codes.
	ValueSetSOPT = "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.114222.4.11.3591"
	// SystemIdentifierType is HL7 v2 table 0203 identifier types (MB, MR, NPI, TAX...).
	SystemIdentifierType = "http://terminology.hl7.org/CodeSystem/v2-0203"
	// SystemC4BBIdentifierType is the C4BB identifier types (uc, um, pat,
	// payerid, naiccode).
	SystemC4BBIdentifierType = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType"
	// SystemPlanNetOrgType is the Plan-Net organization type code system.
	SystemPlanNetOrgType = "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/OrgTypeCS"
	// SystemDataAbsentReason is HL7 data-absent-reason.
	SystemDataAbsentReason = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

	// SystemNPI is the National Provider Identifier system; see [ValidateNPI].
	SystemNPI = "http://hl7.org/fhir/sid/us-npi"
	// SystemTIN is the US tax identification number / EIN system (type
	// v2-0203#TAX).
	SystemTIN = "urn:oid:2.16.840.1.113883.4.4"
	// SystemNAIC is the NAIC company code system (5 digits).
	SystemNAIC = "urn:oid:2.16.840.1.113883.6.300"
	// SystemCLIA is the CLIA number system (^[0-9]{2}D[0-9]{7}$).
	SystemCLIA = "urn:oid:2.16.840.1.113883.4.7"
	// SystemSSN is the US social security number system; emit only if
	// configured.
	SystemSSN = "http://hl7.org/fhir/sid/us-ssn"
	// SystemMBI is the Medicare beneficiary identifier system.
	SystemMBI = "http://hl7.org/fhir/sid/us-mbi"
)

// X12CodeSystem returns the PAS code system URI of an X12 code list by its
// data element number, like X12CodeSystem("1365") for service type codes.
func X12CodeSystem(element string) string { return SystemX12Prefix + element }
