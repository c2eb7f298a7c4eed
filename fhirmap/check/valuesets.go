package check

// Code systems and the required value sets the profiles bind to. Small value
// sets defined by the guides are listed code by code; value sets over large
// or licensed code systems (CPT, ICD-10, NDC, NUBC, NUCC...) are checked by
// system, with a code syntax check (warning) where the syntax is stable.
const (
	c4bbCS = "http://hl7.org/fhir/us/carin-bb/CodeSystem/"

	sysC4BBIdentifierType       = c4bbCS + "C4BBIdentifierType"
	sysC4BBAdjudication         = c4bbCS + "C4BBAdjudication"
	sysC4BBAdjDiscriminator     = c4bbCS + "C4BBAdjudicationDiscriminator"
	sysC4BBPayerAdjStatus       = c4bbCS + "C4BBPayerAdjudicationStatus"
	sysC4BBSupportingInfoType   = c4bbCS + "C4BBSupportingInfoType"
	sysC4BBCareTeamRole         = c4bbCS + "C4BBClaimCareTeamRole"
	sysC4BBDiagnosisType        = c4bbCS + "C4BBClaimDiagnosisType"
	sysC4BBProcedureType        = c4bbCS + "C4BBClaimProcedureType"
	sysC4BBInstSubType          = c4bbCS + "C4BBInstitutionalClaimSubType"
	sysC4BBPayeeType            = c4bbCS + "C4BBPayeeType"
	sysC4BBRelatedClaimRelation = c4bbCS + "C4BBRelatedClaimRelationshipCodes"
	sysC4BBCompoundLiteral      = c4bbCS + "C4BBCompoundLiteral"

	sysClaimType          = "http://terminology.hl7.org/CodeSystem/claim-type"
	sysAdjudication       = "http://terminology.hl7.org/CodeSystem/adjudication"
	sysCareTeamRole       = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
	sysDiagnosisType      = "http://terminology.hl7.org/CodeSystem/ex-diagnosistype"
	sysPayeeType          = "http://terminology.hl7.org/CodeSystem/payeetype"
	sysRelatedClaim       = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
	sysProcessPriority    = "http://terminology.hl7.org/CodeSystem/processpriority"
	sysDataAbsentReason   = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
	sysV2IdentifierType   = "http://terminology.hl7.org/CodeSystem/v2-0203"
	sysSubscriberRelation = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
	sysCoverageClass      = "http://terminology.hl7.org/CodeSystem/coverage-class"
	sysPractitionerRole   = "http://terminology.hl7.org/CodeSystem/practitioner-role"
	sysUCUM               = "http://unitsofmeasure.org"

	sysNPI  = "http://hl7.org/fhir/sid/us-npi"
	sysTIN  = "urn:oid:2.16.840.1.113883.4.4"
	sysNAIC = "urn:oid:2.16.840.1.113883.6.300"
	sysCLIA = "urn:oid:2.16.840.1.113883.4.7"

	sysICD10CM     = "http://hl7.org/fhir/sid/icd-10-cm"
	sysICD9CM      = "http://hl7.org/fhir/sid/icd-9-cm"
	sysICD10PCS    = "http://www.cms.gov/Medicare/Coding/ICD10"
	sysICD9PCS210  = "http://www.cms.gov/Medicare/Coding/ICD9"
	sysCPT         = "http://www.ama-assn.org/go/cpt"
	sysHCPCS       = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
	sysHIPPS       = "https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/ProspMedicareFeeSvcPmtGen/HIPPSCodes"
	sysCDT         = "http://www.ada.org/cdt"
	sysNDC         = "http://hl7.org/fhir/sid/ndc"
	sysPOS         = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
	sysRevenue     = "https://www.nubc.org/CodeSystem/RevenueCodes"
	sysTypeOfBill  = "https://www.nubc.org/CodeSystem/TypeOfBill"
	sysPOO         = "https://www.nubc.org/CodeSystem/PointOfOrigin"
	sysPOONewborn  = "https://www.nubc.org/CodeSystem/PointOfOriginNewborn"
	sysAdmitType   = "https://www.nubc.org/CodeSystem/PriorityTypeOfAdmitOrVisit"
	sysDischarge   = "https://www.nubc.org/CodeSystem/PatDischargeStatus"
	sysPOA         = "https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/HospitalAcqCond/Coding"
	sysCARC        = "https://x12.org/codes/claim-adjustment-reason-codes"
	sysRARC        = "https://x12.org/codes/remittance-advice-remark-codes"
	sysAmbulance   = "https://x12.org/codesystem.x12.org/ambulance-transport-reason-codes"
	sysNUCC        = "http://nucc.org/provider-taxonomy"
	sysToothNumber = "http://terminology.hl7.org/CodeSystem/ADAUniversalToothDesignationSystem"
	sysOralArea    = "http://terminology.hl7.org/CodeSystem/ADAAreaOralCavitySystem"
	sysToothSurf   = "http://terminology.hl7.org/CodeSystem/ADAToothSurfaceCodes"
	sysNCPDP       = "http://terminology.hl7.org/CodeSystem/NCPDP"

	planNetCS       = "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/"
	sysOrgType      = planNetCS + "OrgTypeCS"
	sysAccepting    = planNetCS + "AcceptingPatientsCS"
	sysProviderRole = planNetCS + "ProviderRoleCS"
	sysQualStatus   = planNetCS + "QualificationStatusCS"
)

// Code syntaxes for whole-system members (checked as warnings).
const (
	fmtNUCC    = `^[0-9]{3}[0-9A-Z]{6}X$`
	fmtICD10CM = `^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$`
	fmtCPT     = `^[0-9]{4}[0-9A-Z]$`
	fmtHCPCS   = `^[A-V][0-9]{4}$`
	fmtPOS     = `^[0-9]{2}$`
	fmtRevenue = `^[0-9]{4}$`
	fmtCDT     = `^D[0-9]{4}$`
)

// Value sets shared by all versions.
var (
	vsClaimType     = vs("http://hl7.org/fhir/ValueSet/claim-type", sysClaimType+"#institutional", sysClaimType+"#oral", sysClaimType+"#pharmacy", sysClaimType+"#professional", sysClaimType+"#vision")
	vsProfClaimType = vs("C4BBProfessionalAndNonClinicianClaimType", sysClaimType+"#professional", sysClaimType+"#vision")
	vsInstSubType   = vs("C4BBInstitutionalClaimSubType", sysC4BBInstSubType+"#inpatient", sysC4BBInstSubType+"#outpatient")
	vsRelatedClaim  = vs("C4BBRelatedClaimRelationshipCodes", sysRelatedClaim+"#prior", sysC4BBRelatedClaimRelation+"#replacedby")
	vsPayeeType     = vs("C4BBPayeeType", sysC4BBPayeeType+"#beneficiary", sysPayeeType+"#subscriber", sysPayeeType+"#provider", sysPayeeType+"#other")
	vsPriority      = vs("http://hl7.org/fhir/ValueSet/process-priority", sysProcessPriority+"#stat", sysProcessPriority+"#normal", sysProcessPriority+"#deferred")
	vsPaymentStatus = vs("C4BBPayerClaimPaymentStatusCode", sysC4BBPayerAdjStatus+"#paid", sysC4BBPayerAdjStatus+"#denied", sysC4BBPayerAdjStatus+"#partiallypaid")
	vsNetworkStatus = vs("C4BBPayerProviderNetworkStatus", sysC4BBPayerAdjStatus+"#innetwork", sysC4BBPayerAdjStatus+"#outofnetwork")
	vsBenefitStatus = vs("C4BBPayerBenefitPaymentStatus", sysC4BBPayerAdjStatus+"#innetwork", sysC4BBPayerAdjStatus+"#outofnetwork", sysC4BBPayerAdjStatus+"#other")

	vsCareTeamProf = vs("C4BBClaimProfessionalAndNonClinicianCareTeamRole", sysCareTeamRole+"#primary", sysCareTeamRole+"#supervisor",
		sysC4BBCareTeamRole+"#rendering", sysC4BBCareTeamRole+"#purchasedservice", sysC4BBCareTeamRole+"#referring")
	vsCareTeamInst = vs("C4BBClaimInstitutionalCareTeamRole", sysCareTeamRole+"#primary", sysC4BBCareTeamRole+"#attending",
		sysC4BBCareTeamRole+"#referring", sysC4BBCareTeamRole+"#operating", sysC4BBCareTeamRole+"#otheroperating", sysC4BBCareTeamRole+"#rendering")
	vsCareTeamPharm = vs("C4BBClaimPharmacyTeamRole", sysCareTeamRole+"#primary", sysC4BBCareTeamRole+"#prescribing")

	vsNUCC = vs("http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.114222.4.11.1066", sysNUCC+"#*").withFormat(sysNUCC, fmtNUCC)

	vsDiagTypeProf = vs("C4BBClaimProfessionalAndNonClinicianDiagnosisType", sysDiagnosisType+"#principal", sysC4BBDiagnosisType+"#secondary")
	vsDiagTypeInp  = vs("C4BBClaimInpatientInstitutionalDiagnosisType", sysDiagnosisType+"#principal", sysDiagnosisType+"#admitting",
		sysC4BBDiagnosisType+"#other", sysC4BBDiagnosisType+"#externalcauseofinjury")
	vsDiagTypeOut = vs("C4BBClaimOutpatientInstitutionalDiagnosisType", sysDiagnosisType+"#principal", sysC4BBDiagnosisType+"#other",
		sysC4BBDiagnosisType+"#externalcauseofinjury", sysC4BBDiagnosisType+"#patientreasonforvisit")
	vsICDCM = vs("CDCICD910CMDiagnosisCodes", sysICD10CM+"#*", sysICD9CM+"#*", sysDataAbsentReason+"#masked").withFormat(sysICD10CM, fmtICD10CM)

	vsProcType = vs("C4BBClaimProcedureType", sysC4BBProcedureType+"#principal", sysC4BBProcedureType+"#other")
	vsPOA      = vs("CMSPresentOnAdmissionIndicator", sysPOA+"#*")

	vsProfProc = vs("AMACPTCMSHCPCSProcedureCodes", sysCPT+"#*", sysHCPCS+"#*", sysDataAbsentReason+"#not-applicable").
			withFormat(sysCPT, fmtCPT).withFormat(sysHCPCS, fmtHCPCS)
	vsInstProc = vs("C4BBEOBInstitutionalProcedureCodes", sysCPT+"#*", sysHCPCS+"#*", sysHIPPS+"#*", sysDataAbsentReason+"#not-applicable").
			withFormat(sysCPT, fmtCPT).withFormat(sysHCPCS, fmtHCPCS)
	vsModifiers = vs("AMACPTCMSHCPCSModifiers", sysCPT+"#*", sysHCPCS+"#*")
	vsCDT       = vs("ADADentalProcedureCode", sysCDT+"#*", sysDataAbsentReason+"#not-applicable").withFormat(sysCDT, fmtCDT)
	vsNDC       = vs("FDANationalDrugCode", sysNDC+"#*")
	vsNDCOrComp = vs("FDANDCOrCompound", sysNDC+"#*", sysC4BBCompoundLiteral+"#compound")
	vsPOS       = vs("CMSPlaceofServiceCodes", sysPOS+"#*").withFormat(sysPOS, fmtPOS)
	vsRevenue   = vs("AHANUBCRevenueCodes", sysRevenue+"#*").withFormat(sysRevenue, fmtRevenue)
	vsTypeOfBil = vs("AHANUBCTypeOfBill", sysTypeOfBill+"#*")
	vsPOO       = vs("AHANUBCPointOfOriginForAdmissionOrVisit", sysPOO+"#*", sysPOONewborn+"#*")
	vsAdmitType = vs("AHANUBCPriorityTypeOfAdmissionOrVisit", sysAdmitType+"#*")
	vsDischarge = vs("AHANUBCPatientDischargeStatus", sysDischarge+"#*")
	vsCARCRARC  = vs("X12ClaimAdjustmentReasonCodesCMSRemittanceAdviceRemarkCodes", sysCARC+"#*", sysRARC+"#*")
	vsAmbulance = vs("C4BBAmbulanceTransportReasonCodes", sysAmbulance+"#*")
	vsOralSite  = vs("OralBodySite", sysToothNumber+"#*", sysOralArea+"#*")
	vsToothNum  = vs("ADAUniversalNumberingSystem", sysToothNumber+"#*")
	vsSurface   = vs("C4BBSurfaceCodes", sysToothSurf+"#*")
	vsDAW       = vs("NCPDPDispensedAsWrittenOrProductSelectionCode", sysNCPDP+"DispensedAsWrittenOrProductSelectionCode#*")
	vsBrandGen  = vs("NCPDPBrandGenericIndicator", sysNCPDP+"BrandGenericIndicator#*")
	vsRxOrigin  = vs("NCPDPPrescriptionOriginCode", sysNCPDP+"PrescriptionOriginCode#*")
	vsCompound  = vs("NCPDPCompoundCode", sysNCPDP+"CompoundCode#*")
	vsReject    = vs("NCPDPRejectCode", sysNCPDP+"RejectCode#*")

	vsSubscriberRel = vs("http://hl7.org/fhir/ValueSet/subscriber-relationship", sysSubscriberRelation+"#child", sysSubscriberRelation+"#parent",
		sysSubscriberRelation+"#spouse", sysSubscriberRelation+"#common", sysSubscriberRelation+"#other", sysSubscriberRelation+"#self", sysSubscriberRelation+"#injured")

	// Plan-Net
	vsNetworkType     = vs("NetworkTypeVS", sysOrgType+"#ntwk")
	vsAccepting       = vs("AcceptingPatientsVS", sysAccepting+"#nopt", sysAccepting+"#newpt", sysAccepting+"#existptonly", sysAccepting+"#existptfam")
	vsPlanNetRole     = vs("PractitionerRoleVS", sysProviderRole+"#*", sysPractitionerRole+"#*")
	vsPlanNetSpecialt = vs("IndividualAndGroupSpecialtiesVS", sysNUCC+"#*").withFormat(sysNUCC, fmtNUCC)
	vsQualStatus      = vs("QualificationStatusVS", sysQualStatus+"#active", sysQualStatus+"#inactive", sysQualStatus+"#issiner",
		sysQualStatus+"#revoked", sysQualStatus+"#pending", sysQualStatus+"#unknown")
)

// c4bbAdjudication returns the C4BBAdjudication value set (the amount
// categories) of a C4BB release: 2.2.0 adds paidbypatienthealthaccount.
func c4bbAdjudication(v string) *valueSet {
	entries := []string{
		sysAdjudication + "#submitted", sysAdjudication + "#copay", sysAdjudication + "#eligible", sysAdjudication + "#deductible", sysAdjudication + "#benefit",
		sysC4BBAdjudication + "#coinsurance", sysC4BBAdjudication + "#noncovered", sysC4BBAdjudication + "#priorpayerpaid",
		sysC4BBAdjudication + "#paidbypatient", sysC4BBAdjudication + "#paidbypatientcash", sysC4BBAdjudication + "#paidbypatientother",
		sysC4BBAdjudication + "#paidtopatient", sysC4BBAdjudication + "#paidtoprovider", sysC4BBAdjudication + "#memberliability",
		sysC4BBAdjudication + "#discount", sysC4BBAdjudication + "#drugcost",
	}
	if v == v220 {
		entries = append(entries, sysC4BBAdjudication+"#paidbypatienthealthaccount")
	}
	return vs("C4BBAdjudication", entries...)
}

// icdPCS returns the CMSICD910PCSProcedureCodes value set of a release (the
// ICD-9 procedure system URI changed in 2.2.0).
func icdPCS(v string) *valueSet {
	icd9 := sysICD9PCS210
	if v == v220 {
		icd9 = sysICD9CM
	}
	return vs("CMSICD910PCSProcedureCodes", sysICD10PCS+"#*", icd9+"#*")
}
