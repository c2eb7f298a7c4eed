package x12

// Claim837 is one claim of an 837 professional, institutional or dental
// transaction (loop 2300, CLM) with its context: the header (submitter and
// receiver), the billing provider, the subscriber and payer, and the patient
// when the patient is not the subscriber. The context parts are pointers shared
// by every claim under the same loops: treat them as read-only.
//
// Kind tells the variant: [Kind837PClaim], [Kind837IClaim] or [Kind837DClaim].
type Claim837 struct {
	recordBase

	Header          *Header837          // transaction set header, 1000A submitter, 1000B receiver
	BillingProvider *BillingProvider837 // loop 2000A and its 2010AA/2010AB/2010AC
	Subscriber      *Subscriber837      // loop 2000B and its 2010BA/2010BB
	Patient         *Patient837         `json:",omitempty"` // loop 2000C and its 2010CA; nil when the subscriber is the patient (no HL 23)

	// CLM Claim Information
	PatientControlNumber   string   `json:",omitempty"` // CLM01 patient control number (echoed in 835 CLP01)
	TotalCharge            Amount   `json:",omitempty"` // CLM02 total claim charge amount
	FacilityCode           string   `json:",omitempty"` // CLM05-1 place of service code (P, D) or facility type code (I)
	FacilityCodeQualifier  string   `json:",omitempty"` // CLM05-2 "B" place of service, "A" uniform billing claim form bill type
	FrequencyCode          string   `json:",omitempty"` // CLM05-3 claim frequency type code: "1" original, "7" replacement, "8" void
	ProviderSignature      string   `json:",omitempty"` // CLM06 provider or supplier signature indicator (P, D)
	Assignment             string   `json:",omitempty"` // CLM07 assignment or plan participation code
	BenefitsAssignment     string   `json:",omitempty"` // CLM08 benefits assignment certification indicator
	ReleaseOfInformation   string   `json:",omitempty"` // CLM09 release of information code
	PatientSignatureSource string   `json:",omitempty"` // CLM10 patient signature source code (P)
	RelatedCauses          []string `json:",omitempty"` // CLM11-1..3 related causes: "AA" auto accident, "EM" employment, "OA" other accident
	AccidentState          string   `json:",omitempty"` // CLM11-4 auto accident state
	AccidentCountry        string   `json:",omitempty"` // CLM11-5 auto accident country
	SpecialProgram         string   `json:",omitempty"` // CLM12 special program indicator
	SubmissionReason       string   `json:",omitempty"` // CLM19 claim submission reason code (D): "PB" predetermination of dental benefits, not a request for payment
	DelayReason            string   `json:",omitempty"` // CLM20 delay reason code

	Dates         Dates                `json:",omitempty"` // DTP: 431 onset, 472 service (D), 434 statement (I), 435 admission, 096 discharge, 439 accident...
	Refs          Refs                 `json:",omitempty"` // REF: G1 prior authorization, F8 payer claim control number, 9F referral, EA medical record number...
	Amounts       Amounts              `json:",omitempty"` // AMT: F5 patient paid (P, D), F3 patient estimated amount due (I)
	Notes         []Note               `json:",omitempty"` // NTE
	Attachments   []Attachment         `json:",omitempty"` // PWK
	Contract      *Contract            `json:",omitempty"` // CN1
	Institutional *InstitutionalInfo   `json:",omitempty"` // CL1 institutional claim code (I)
	Ambulance     *AmbulanceTransport  `json:",omitempty"` // CR1 ambulance transport information (P)
	Conditions    []ConditionIndicator `json:",omitempty"` // CRC
	Codes         []HealthCareCode     `json:",omitempty"` // HI: every composite of every HI segment, in input order
	Orthodontics  *Orthodontics        `json:",omitempty"` // DN1 (D)
	ToothStatus   []ToothStatus        `json:",omitempty"` // DN2 (D)
	Providers     []Party              `json:",omitempty"` // loops 2310A–2310F: referring, rendering, service facility, supervising, attending... (LoopID and Code tell which)
	OtherPayers   []OtherSubscriber837 `json:",omitempty"` // loops 2320 and 2330A–2330I: other subscriber information (coordination of benefits)
	Lines         []ServiceLine837     `json:",omitempty"` // loops 2400: service lines
}

// Header837 is the transaction set header of an 837: BHT and the submitter and
// receiver loops.
type Header837 struct {
	StructureCode   string `json:",omitempty"` // BHT01 hierarchical structure code: "0019"
	Purpose         string `json:",omitempty"` // BHT02 transaction set purpose code: "00" original, "18" reissue
	Reference       string `json:",omitempty"` // BHT03 originator application transaction identifier
	Date            string `json:",omitempty"` // BHT04 transaction set creation date (CCYYMMDD)
	Time            string `json:",omitempty"` // BHT05 transaction set creation time
	TransactionType string `json:",omitempty"` // BHT06 claim or encounter identifier: "CH" chargeable, "RP" reporting
	Submitter       Party  // loop 1000A Submitter Name (NM1*41) and PER
	Receiver        Party  // loop 1000B Receiver Name (NM1*40)
	Loop            *Loop  `json:"-"` // the loop and all its segments
}

// HierarchicalLevel is HL.
type HierarchicalLevel struct {
	ID        string `json:",omitempty"` // HL01 hierarchical id number
	ParentID  string `json:",omitempty"` // HL02 hierarchical parent id number
	LevelCode string `json:",omitempty"` // HL03 hierarchical level code: "20" information source, "22" subscriber, "23" dependent
	ChildCode string `json:",omitempty"` // HL04 hierarchical child code: "1" children follow, "0" none
}

func hl(s *fields) HierarchicalLevel {
	return HierarchicalLevel{ID: s.Element(1), ParentID: s.Element(2), LevelCode: s.Element(3), ChildCode: s.Element(4)}
}

// BillingProvider837 is loop 2000A Billing Provider Hierarchical Level with its
// name loops.
type BillingProvider837 struct {
	HL           HierarchicalLevel // HL hierarchical level
	Specialty    *ProviderInfo     `json:",omitempty"` // PRV*BI*PXC billing provider taxonomy
	Currency     string            `json:",omitempty"` // CUR02 currency code
	Name         Party             // loop 2010AA Billing Provider Name (NM1*85), N3, N4, REF*EI/SY, PER
	PayToAddress *Party            `json:",omitempty"` // loop 2010AB Pay-to Address Name (NM1*87)
	PayToPlan    *Party            `json:",omitempty"` // loop 2010AC Pay-to Plan Name (NM1*PE)
	Loop         *Loop             `json:"-"`          // the loop and all its segments
}

// SubscriberInfo is SBR (837 loops 2000B and 2320).
type SubscriberInfo struct {
	PayerResponsibility  string `json:",omitempty"` // SBR01 payer responsibility sequence number code: "P", "S", "T", "A"–"H", "U"
	Relationship         string `json:",omitempty"` // SBR02 individual relationship code: "18" self
	GroupNumber          string `json:",omitempty"` // SBR03 insured group or policy number
	GroupName            string `json:",omitempty"` // SBR04 group name
	InsuranceType        string `json:",omitempty"` // SBR05 insurance type code (Medicare secondary)
	ClaimFilingIndicator string `json:",omitempty"` // SBR09 claim filing indicator code: "CI" commercial, "MB" Medicare B, "MC" Medicaid, "16" HMO Medicare risk...
}

func (b *binding) sbr(s *fields) SubscriberInfo {
	return SubscriberInfo{PayerResponsibility: b.req(s, 1), Relationship: s.Element(2), GroupNumber: s.Element(3),
		GroupName: s.Element(4), InsuranceType: s.Element(5), ClaimFilingIndicator: s.Element(9)}
}

// PatientInfo is PAT.
type PatientInfo struct {
	Relationship string `json:",omitempty"` // PAT01 individual relationship code (2000C): "01" spouse, "19" child, "20" employee, "21" unknown, "39" organ donor, "40" cadaver donor, "53" life partner, "G8" other
	DateFormat   string `json:",omitempty"` // PAT05 date time period format qualifier: "D8"
	DeathDate    string `json:",omitempty"` // PAT06 patient death date
	WeightUnit   string `json:",omitempty"` // PAT07 unit or basis for measurement code: "01" pounds
	Weight       string `json:",omitempty"` // PAT08 patient weight
	Pregnant     string `json:",omitempty"` // PAT09 pregnancy indicator: "Y"
}

func (b *binding) pat(s *fields) *PatientInfo {
	p := take(&b.patInfos)
	*p = PatientInfo{Relationship: s.Element(1), DateFormat: s.Element(5), DeathDate: s.Element(6),
		WeightUnit: s.Element(7), Weight: s.Element(8), Pregnant: s.Element(9)}
	if p.DeathDate != "" {
		b.dated(s, 6, p.DateFormat, p.DeathDate)
	}
	return p
}

// Subscriber837 is loop 2000B Subscriber Hierarchical Level with its name loops.
type Subscriber837 struct {
	HL HierarchicalLevel // HL hierarchical level
	SubscriberInfo
	PatientInfo *PatientInfo `json:",omitempty"` // PAT (when the subscriber is the patient: death date, weight, pregnancy)
	Name        Party        // loop 2010BA Subscriber Name (NM1*IL): member id in NM109 (NM108 "MI"), N3, N4, DMG, REF
	Payer       Party        // loop 2010BB Payer Name (NM1*PR): payer id in NM109 (NM108 "PI"/"XV"), N3, N4, REF
	Loop        *Loop        `json:"-"` // the loop and all its segments
}

// Patient837 is loop 2000C Patient Hierarchical Level with loop 2010CA.
type Patient837 struct {
	HL          HierarchicalLevel // HL hierarchical level
	PatientInfo PatientInfo       // PAT; PAT01 is the patient's relationship to the insured
	Name        Party             // loop 2010CA Patient Name (NM1*QC), N3, N4, DMG, REF
	Loop        *Loop             `json:"-"` // the loop and all its segments
}

// Contract is CN1.
type Contract struct {
	Type     string `json:",omitempty"` // CN101 contract type code
	Amount   Amount `json:",omitempty"` // CN102 contract amount
	Percent  string `json:",omitempty"` // CN103 contract percentage
	Code     string `json:",omitempty"` // CN104 contract code
	Discount string `json:",omitempty"` // CN105 terms discount percentage
	Version  string `json:",omitempty"` // CN106 contract version identifier
}

// cn1 types a CN1 segment (claim or line contract information).
func (b *binding) cn1(s *fields) *Contract {
	c := take(&b.contracts)
	*c = Contract{Type: b.req(s, 1), Amount: b.amount(s, 2, false), Percent: s.Element(3),
		Code: s.Element(4), Discount: s.Element(5), Version: s.Element(6)}
	return c
}

// InstitutionalInfo is CL1 (837I).
type InstitutionalInfo struct {
	AdmissionType   string `json:",omitempty"` // CL101 priority (type) of admission or visit (NUBC)
	AdmissionSource string `json:",omitempty"` // CL102 point of origin for admission or visit (NUBC)
	PatientStatus   string `json:",omitempty"` // CL103 patient (discharge) status code (NUBC)
}

// AmbulanceTransport is CR1 (837P). Element positions per MAPPING.md D18 [verify].
type AmbulanceTransport struct {
	WeightUnit       string `json:",omitempty"` // CR101 unit or basis for measurement code: "LB"
	Weight           string `json:",omitempty"` // CR102 patient weight
	Reason           string `json:",omitempty"` // CR104 ambulance transport reason code
	DistanceUnit     string `json:",omitempty"` // CR105 unit or basis for measurement code: "DH" miles
	Distance         string `json:",omitempty"` // CR106 transport distance
	RoundTripPurpose string `json:",omitempty"` // CR109 round trip purpose description
	StretcherPurpose string `json:",omitempty"` // CR110 stretcher purpose description
}

// ConditionIndicator is CRC.
type ConditionIndicator struct {
	Category   string   `json:",omitempty"` // CRC01 code category: "07" ambulance, "E1"–"E3" vision, "75" homebound, "ZZ" EPSDT
	Applies    string   `json:",omitempty"` // CRC02 yes/no condition or response code
	Conditions []string `json:",omitempty"` // CRC03–CRC07 condition indicators
}

// Orthodontics is DN1 (837D).
type Orthodontics struct {
	TotalMonths     string `json:",omitempty"` // DN101 orthodontic treatment months count
	RemainingMonths string `json:",omitempty"` // DN102 orthodontic treatment months remaining count
	Indicator       string `json:",omitempty"` // DN103 yes/no condition or response code (questionnaire)
	Description     string `json:",omitempty"` // DN104 description
}

// ToothStatus is DN2 (837D).
type ToothStatus struct {
	Tooth         string `json:",omitempty"` // DN201 tooth number
	Status        string `json:",omitempty"` // DN202 tooth status code: "M" missing, "E" to be extracted...
	CodeQualifier string `json:",omitempty"` // DN206 code list qualifier code: "JP" universal national tooth designation
}

// OtherSubscriber837 is loop 2320 Other Subscriber Information with its 2330
// loops: one other payer's coverage and adjudication of the claim.
type OtherSubscriber837 struct {
	SubscriberInfo
	Adjustments    []Adjustment            `json:",omitempty"` // CAS claim-level adjustments by the other payer
	Amounts        Amounts                 `json:",omitempty"` // AMT: D payer paid, A8 non-covered, EAF remaining patient liability
	OtherInsurance *OtherInsurance         `json:",omitempty"` // OI
	Inpatient      *InpatientAdjudication  `json:",omitempty"` // MIA (I)
	Outpatient     *OutpatientAdjudication `json:",omitempty"` // MOA
	Subscriber     Party                   // loop 2330A Other Subscriber Name (NM1*IL)
	Payer          Party                   // loop 2330B Other Payer Name (NM1*PR), DTP*573 adjudication date, REF
	Providers      []Party                 `json:",omitempty"` // loops 2330C–2330I: other payer provider ids
	Loop           *Loop                   `json:"-"`          // the loop and all its segments
}

// OtherInsurance is OI.
type OtherInsurance struct {
	BenefitsAssignment     string `json:",omitempty"` // OI03 benefits assignment certification indicator
	PatientSignatureSource string `json:",omitempty"` // OI04 patient signature source code
	ReleaseOfInformation   string `json:",omitempty"` // OI06 release of information code
}

// ServiceLine837 is loop 2400 Service Line Number. Exactly one of
// Professional, Institutional and Dental is set, following the variant.
type ServiceLine837 struct {
	LineNumber    string                `json:",omitempty"` // LX01 assigned number
	Professional  *ProfessionalService  `json:",omitempty"` // SV1 (837P)
	Institutional *InstitutionalService `json:",omitempty"` // SV2 (837I)
	Dental        *DentalService        `json:",omitempty"` // SV3 (837D)
	Teeth         []Tooth               `json:",omitempty"` // TOO (837D)
	Dates         Dates                 `json:",omitempty"` // DTP: 472 service date, 471 prescription...
	Refs          Refs                  `json:",omitempty"` // REF: 6R line item control number, G1 prior authorization, 9B/9D repricing...
	Amounts       Amounts               `json:",omitempty"` // AMT: T sales tax, F4 postage, GT/N8 (I)
	Quantities    Quantities            `json:",omitempty"` // QTY
	Notes         []Note                `json:",omitempty"` // NTE
	Attachments   []Attachment          `json:",omitempty"` // PWK
	Contract      *Contract             `json:",omitempty"` // CN1 line contract information (P, D)
	Drug          *Drug837              `json:",omitempty"` // loop 2410 Drug Identification
	Providers     []Party               `json:",omitempty"` // loops 2420A–2420H line-level providers
	Adjudications []LineAdjudication837 `json:",omitempty"` // loops 2430 Line Adjudication Information (coordination of benefits)
	Loop          *Loop                 `json:"-"`          // the loop and all its segments
}

// ControlNumber returns the line item control number (REF*6R), echoed in 835 REF*6R.
func (l *ServiceLine837) ControlNumber() string { v, _ := l.Refs.Get("6R"); return v }

// ProfessionalService is SV1 (837P).
type ProfessionalService struct {
	Procedure         Procedure // SV101 composite medical procedure identifier
	Charge            Amount    `json:",omitempty"` // SV102 line item charge amount
	UnitBasis         string    `json:",omitempty"` // SV103 unit or basis for measurement code: "UN" units, "MJ" minutes
	Units             string    `json:",omitempty"` // SV104 service unit count
	PlaceOfService    string    `json:",omitempty"` // SV105 place of service code (when it differs from CLM05-1)
	DiagnosisPointers []string  `json:",omitempty"` // SV107-1..4 diagnosis code pointers into the claim's diagnoses (1–12)
	Emergency         string    `json:",omitempty"` // SV109 emergency indicator
	EPSDT             string    `json:",omitempty"` // SV111 EPSDT indicator
	FamilyPlanning    string    `json:",omitempty"` // SV112 family planning indicator
	CopayExempt       string    `json:",omitempty"` // SV115 co-pay status code
}

// InstitutionalService is SV2 (837I).
type InstitutionalService struct {
	RevenueCode      string     `json:",omitempty"` // SV201 service line revenue code (NUBC)
	Procedure        *Procedure `json:",omitempty"` // SV202 composite medical procedure identifier (HC, HP, ER, IV, WK)
	Charge           Amount     `json:",omitempty"` // SV203 line item charge amount
	UnitBasis        string     `json:",omitempty"` // SV204 unit or basis for measurement code: "DA" days, "UN" units
	Units            string     `json:",omitempty"` // SV205 service unit count
	UnitRate         Amount     `json:",omitempty"` // SV206 unit rate
	NonCoveredCharge Amount     `json:",omitempty"` // SV207 line item denied (non-covered) charge amount
}

// DentalService is SV3 (837D).
type DentalService struct {
	Procedure         Procedure // SV301 composite medical procedure identifier (AD: CDT)
	Charge            Amount    `json:",omitempty"` // SV302 line item charge amount
	PlaceOfService    string    `json:",omitempty"` // SV303 place of service code
	OralCavity        []string  `json:",omitempty"` // SV304-1..5 oral cavity designation codes
	Prosthesis        string    `json:",omitempty"` // SV305 prosthesis, crown or inlay code: "I" initial, "R" replacement
	Units             string    `json:",omitempty"` // SV306 procedure count
	DiagnosisPointers []string  `json:",omitempty"` // SV311-1..4 diagnosis code pointers
}

// Tooth is TOO (837D).
type Tooth struct {
	CodeQualifier string   `json:",omitempty"` // TOO01 code list qualifier code: "JP" universal national tooth designation
	Tooth         string   `json:",omitempty"` // TOO02 tooth number
	Surfaces      []string `json:",omitempty"` // TOO03-1..5 tooth surface codes
}

// Drug837 is loop 2410 Drug Identification: LIN, CTP, REF.
type Drug837 struct {
	ProductQualifier string `json:",omitempty"` // LIN02 product/service id qualifier: "N4" NDC 5-4-2
	ProductID        string `json:",omitempty"` // LIN03 national drug code
	Quantity         string `json:",omitempty"` // CTP04 national drug unit count
	UnitBasis        string `json:",omitempty"` // CTP05-1 unit or basis for measurement code: "F2" international unit, "GR" gram, "ME" milligram, "ML" milliliter, "UN" unit
	Refs             Refs   `json:",omitempty"` // REF: XZ prescription number, VY link sequence number
	Loop             *Loop  `json:"-"`          // the loop and all its segments
}

// LineAdjudication837 is loop 2430 Line Adjudication Information: how another
// payer adjudicated the line.
type LineAdjudication837 struct {
	OtherPayerID      string       `json:",omitempty"` // SVD01 other payer primary identifier (matches 2330B NM109)
	Paid              Amount       `json:",omitempty"` // SVD02 service line paid amount
	Procedure         Procedure    // SVD03 composite medical procedure identifier
	RevenueCode       string       `json:",omitempty"` // SVD04 product/service id (revenue code, I)
	PaidUnits         string       `json:",omitempty"` // SVD05 paid service unit count
	BundledLineNumber string       `json:",omitempty"` // SVD06 bundled or unbundled line number
	Adjustments       []Adjustment `json:",omitempty"` // CAS line adjustments
	Dates             Dates        `json:",omitempty"` // DTP*573 line check or remittance date
	Amounts           Amounts      `json:",omitempty"` // AMT*EAF remaining patient liability
	Loop              *Loop        `json:"-"`          // the loop and all its segments
}

// Diagnoses returns the claim's principal and other diagnoses (HI qualifiers
// ABK, ABF, BK, BF) in order: diagnosis pointer n (SV107, SV311) designates
// element n-1 of the result.
func (c *Claim837) Diagnoses() []HealthCareCode {
	var out []HealthCareCode
	for _, h := range c.Codes {
		if h.IsDiagnosis() {
			out = append(out, h)
		}
	}
	return out
}

// PrincipalDiagnosis returns the principal diagnosis (ABK or BK).
func (c *Claim837) PrincipalDiagnosis() (HealthCareCode, bool) {
	for _, h := range c.Codes {
		if h.IsPrincipalDiagnosis() {
			return h, true
		}
	}
	return HealthCareCode{}, false
}

// PatientParty returns the patient's name loop: 2010CA when a patient loop is
// present, else the subscriber (2010BA).
func (c *Claim837) PatientParty() *Party {
	if c.Patient != nil {
		return &c.Patient.Name
	}
	if c.Subscriber != nil {
		return &c.Subscriber.Name
	}
	return nil
}

var bind837 = binder{context: context837, record: record837}

// context837 types the context loops of an 837.
func context837(b *binding, l *Loop) any {
	switch l.ID {
	case headerLoop:
		h := take(&b.headers)
		h.Loop = l
		var scBHT fields
		if s, ok := scBHT.find(l, "BHT"); ok {
			h.StructureCode, h.Purpose, h.Reference = b.req(s, 1), b.req(s, 2), s.Element(3)
			h.Date, h.Time, h.TransactionType = b.date(s, 4, true), s.Element(5), s.Element(6)
			if h.Time != "" {
				if _, err := ParseTime(h.Time); err != nil {
					b.invalid(s, 5, 0, "9", "is not a time", h.Time)
				}
			}
		} else {
			b.missingSegment(l, "BHT", "BHT is required")
		}
		if c := b.requireChild(l, "1000A", "NM1"); c != nil {
			b.partyInto(&h.Submitter, c)
		}
		if c := b.requireChild(l, "1000B", "NM1"); c != nil {
			b.partyInto(&h.Receiver, c)
		}
		return h
	case "2000A":
		p := take(&b.bprovs)
		var sc fields
		p.HL, p.Loop = hl(sc.split(l.Lead())), l
		for _, seg := range l.Segments {
			s := sc.split(seg)
			switch s.code {
			case cPRV:
				p.Specialty = b.prv(s)
			case cCUR:
				p.Currency = s.Element(2)
			}
		}
		if c := b.requireChild(l, "2010AA", "NM1"); c != nil {
			b.partyInto(&p.Name, c)
		}
		p.PayToAddress = b.partyPtr(l, "2010AB")
		p.PayToPlan = b.partyPtr(l, "2010AC")
		return p
	case "2000B":
		sub := take(&b.subs)
		var sc fields
		sub.HL, sub.Loop = hl(sc.split(l.Lead())), l
		if s, ok := sc.find(l, "SBR"); ok {
			sub.SubscriberInfo = b.sbr(s)
		} else {
			b.missingSegment(l, "SBR", "SBR is required")
		}
		if s, ok := sc.find(l, "PAT"); ok {
			sub.PatientInfo = b.pat(s)
		}
		if c := b.requireChild(l, "2010BA", "NM1"); c != nil {
			b.partyInto(&sub.Name, c)
		}
		if c := b.requireChild(l, "2010BB", "NM1"); c != nil {
			b.partyInto(&sub.Payer, c)
		}
		return sub
	case "2000C":
		p := take(&b.pats)
		var sc fields
		p.HL, p.Loop = hl(sc.split(l.Lead())), l
		if s, ok := sc.find(l, "PAT"); ok {
			p.PatientInfo = *b.pat(s)
			if p.PatientInfo.Relationship == "" {
				b.missing(s, 1, 0)
			}
		} else {
			b.missingSegment(l, "PAT", "PAT is required")
		}
		if c := b.requireChild(l, "2010CA", "NM1"); c != nil {
			b.partyInto(&p.Name, c)
		}
		return p
	}
	return nil
}

// record837 types one claim.
func record837(b *binding, base recordBase) Record {
	l := base.loop
	nHI := b.prealloc(l)
	c := take(&b.claims)
	c.recordBase = base
	for p := l.Parent; p != nil; p = p.Parent {
		switch v := p.typed().(type) {
		case *Header837:
			c.Header = v
		case *BillingProvider837:
			c.BillingProvider = v
		case *Subscriber837:
			c.Subscriber = v
		case *Patient837:
			c.Patient = v
		}
	}
	reserve(&b.codes, nHI)
	codes := len(b.codes)
	m := b.mark()
	notes, pwks, conds, teeth := len(b.notes), len(b.pwks), len(b.conds), len(b.toothSt)
	var sc fields
	for _, seg := range l.Segments {
		s := sc.split(seg)
		switch s.code {
		case cCLM:
			c.PatientControlNumber = b.req(s, 1)
			c.TotalCharge = b.amount(s, 2, true)
			c.FacilityCode = b.reqComp(s, 5, 1)
			c.FacilityCodeQualifier = s.Component(5, 2)
			c.FrequencyCode = b.reqComp(s, 5, 3)
			c.ProviderSignature, c.Assignment, c.BenefitsAssignment = s.Element(6), s.Element(7), s.Element(8)
			c.ReleaseOfInformation, c.PatientSignatureSource = s.Element(9), s.Element(10)
			c.RelatedCauses = b.components(s, 11, 1, 3)
			c.AccidentState, c.AccidentCountry = s.Component(11, 4), s.Component(11, 5)
			c.SpecialProgram, c.SubmissionReason, c.DelayReason = s.Element(12), s.Element(19), s.Element(20)
		case cDTP:
			b.dates = append(b.dates, b.dtp(s))
		case cREF:
			b.addRef(s)
		case cAMT:
			b.amts = append(b.amts, b.amt(s))
		case cNTE:
			b.notes = append(b.notes, nte(s))
		case cPWK:
			b.pwks = append(b.pwks, pwk(s))
		case cCN1:
			c.Contract = b.cn1(s)
		case cCL1:
			c.Institutional = take(&b.cl1s)
			*c.Institutional = InstitutionalInfo{AdmissionType: s.Element(1), AdmissionSource: s.Element(2), PatientStatus: s.Element(3)}
		case cCR1:
			c.Ambulance = take(&b.cr1s)
			*c.Ambulance = AmbulanceTransport{WeightUnit: s.Element(1), Weight: s.Element(2), Reason: s.Element(4),
				DistanceUnit: s.Element(5), Distance: s.Element(6), RoundTripPurpose: s.Element(9), StretcherPurpose: s.Element(10)}
		case cCRC:
			b.conds = append(b.conds, ConditionIndicator{Category: b.req(s, 1), Applies: s.Element(2),
				Conditions: b.elements(s, 3, 4, 5, 6, 7)})
		case cHI:
			b.codes = b.hi(b.codes, s)
		case cDN1:
			c.Orthodontics = take(&b.dn1s)
			*c.Orthodontics = Orthodontics{TotalMonths: s.Element(1), RemainingMonths: s.Element(2), Indicator: s.Element(3), Description: s.Element(4)}
		case cDN2:
			b.toothSt = append(b.toothSt, ToothStatus{Tooth: b.req(s, 1), Status: b.req(s, 2), CodeQualifier: s.Element(6)})
		}
	}
	c.Dates, c.Refs, c.Amounts = cut(b.dates, m.d), cut(b.refs, m.r), cut(b.amts, m.a)
	c.Codes, c.Notes, c.Attachments = cut(b.codes, codes), cut(b.notes, notes), cut(b.pwks, pwks)
	c.Conditions, c.ToothStatus = cut(b.conds, conds), cut(b.toothSt, teeth)
	// Required by the TR3 and by the mapping.
	switch c.kind {
	case Kind837PClaim, Kind837IClaim:
		if _, ok := c.PrincipalDiagnosis(); !ok {
			b.missingSegment(l, "HI", "principal diagnosis (HI ABK/BK) is required")
		}
	}
	if c.kind == Kind837IClaim {
		if c.Institutional == nil {
			b.missingSegment(l, "CL1", "CL1 is required")
		} else if c.Institutional.PatientStatus == "" {
			s, _ := sc.find(l, "CL1")
			b.missing(s, 3, 0)
		}
		if _, ok := c.Dates.Get("434"); !ok {
			b.missingSegment(l, "DTP", "DTP*434 statement dates are required")
		}
	}
	// The child loops, in input order. Each list is contiguous in its slab:
	// the claim's providers (2310x) in parties, the lines' providers (2420x)
	// in lineParties, the other payers' providers (2330C-I) in cobParties.
	nLines, nOther, nParties, nLineParties := 0, 0, 0, 0
	for _, ch := range l.Children {
		switch ch.ID {
		case "2400":
			nLines++
			nLineParties += len(ch.Children)
		case "2320":
			nOther++
		default: // 2310x
			nParties++
		}
	}
	if nLines == 0 {
		b.missingSegment(l, "LX", "at least one service line (loop 2400) is required")
	}
	reserve(&b.lines, nLines)
	reserve(&b.others, nOther)
	reserve(&b.parties, nParties)
	reserve(&b.lineParties, nLineParties)
	lines, others, parties := len(b.lines), len(b.others), len(b.parties)
	for _, ch := range l.Children {
		switch ch.ID {
		case "2400":
			b.line837(c.kind, ch, take(&b.lines))
		case "2320":
			b.otherSubscriber837(ch, take(&b.others))
		default: // 2310x
			b.partyInto(take(&b.parties), ch)
		}
	}
	c.Lines, c.OtherPayers, c.Providers = cut(b.lines, lines), cut(b.others, others), cut(b.parties, parties)
	return c
}

// hi appends the composites of an HI segment.
func (b *binding) hi(dst []HealthCareCode, s *fields) []HealthCareCode {
	n := s.Len()
	for i := 1; i <= n && i <= 12; i++ {
		if s.Element(i) == "" {
			continue
		}
		var c [maxComps]string
		s.comps(i, &c)
		h := HealthCareCode{Qualifier: c[0], Code: c[1], DateFormat: c[2], Date: c[3], Amount: Amount(c[4]), Quantity: c[5]}
		if c[maxComps-1] != "" {
			h.PresentOnAdmission = s.Component(i, 9)
		}
		if h.Qualifier == "" {
			b.missing(s, i, 1)
		}
		if h.Code == "" {
			b.missing(s, i, 2)
		}
		if h.Amount != "" && !validAmount(c[4]) {
			b.invalid(s, i, 5, "6", "is not a decimal number", c[4])
		}
		if h.Date != "" && b.err == nil {
			if ik4 := checkPeriod(h.DateFormat, h.Date); ik4 != "" {
				b.invalid(s, i, 4, ik4, "is not a valid date", h.Date)
			}
		}
		dst = append(dst, h)
	}
	return dst
}

// line837 types service line l into ln, which must be zero (from take).
func (b *binding) line837(kind Kind, l *Loop, ln *ServiceLine837) {
	ln.Loop = l
	m := b.mark()
	notes, pwks, teeth := len(b.notes), len(b.pwks), len(b.teeth)
	var sc fields
	for _, seg := range l.Segments {
		s := sc.split(seg)
		switch s.code {
		case cLX:
			if ln.LineNumber = s.Element(1); ln.LineNumber == "" {
				b.missing(s, 1, 0)
			}
		case cSV1:
			p := take(&b.prof)
			b.procedureInto(&p.Procedure, s, 1)
			p.Charge = b.amount(s, 2, true)
			p.UnitBasis, p.Units, p.PlaceOfService = s.Element(3), s.Element(4), s.Element(5)
			p.DiagnosisPointers = b.components(s, 7, 1, 4)
			p.Emergency, p.EPSDT, p.FamilyPlanning, p.CopayExempt = s.Element(9), s.Element(11), s.Element(12), s.Element(15)
			ln.Professional = p
			b.reqProcedure(s, &p.Procedure)
			b.units(s, 4)
		case cSV2:
			sv := take(&b.inst)
			*sv = InstitutionalService{RevenueCode: b.req(s, 1), Charge: b.amount(s, 3, true), UnitBasis: s.Element(4),
				Units: s.Element(5), UnitRate: b.amount(s, 6, false), NonCoveredCharge: b.amount(s, 7, false)}
			if s.Element(2) != "" {
				p := take(&b.procs)
				*p = b.procedure(s, 2)
				sv.Procedure = p
			}
			b.units(s, 5)
			ln.Institutional = sv
		case cSV3:
			d := take(&b.dent)
			*d = DentalService{Procedure: b.procedure(s, 1), Charge: b.amount(s, 2, true), PlaceOfService: s.Element(3),
				OralCavity: b.components(s, 4, 1, 5), Prosthesis: s.Element(5), Units: s.Element(6),
				DiagnosisPointers: b.components(s, 11, 1, 4)}
			ln.Dental = d
			b.reqProcedure(s, &d.Procedure)
			b.units(s, 6)
		case cTOO:
			b.teeth = append(b.teeth, Tooth{CodeQualifier: s.Element(1), Tooth: b.req(s, 2), Surfaces: b.components(s, 3, 1, 5)})
		case cDTP:
			b.dates = append(b.dates, b.dtp(s))
		case cREF:
			b.addRef(s)
		case cAMT:
			b.amts = append(b.amts, b.amt(s))
		case cQTY:
			b.qtys = append(b.qtys, b.qty(s))
		case cNTE:
			b.notes = append(b.notes, nte(s))
		case cPWK:
			b.pwks = append(b.pwks, pwk(s))
		case cCN1:
			ln.Contract = b.cn1(s)
		}
	}
	ln.Dates, ln.Refs, ln.Amounts, ln.Quantities = cut(b.dates, m.d), cut(b.refs, m.r), cut(b.amts, m.a), cut(b.qtys, m.q)
	ln.Notes, ln.Attachments, ln.Teeth = cut(b.notes, notes), cut(b.pwks, pwks), cut(b.teeth, teeth)
	switch {
	case kind == Kind837PClaim && ln.Professional == nil:
		b.missingSegment(l, "SV1", "SV1 is required")
	case kind == Kind837IClaim && ln.Institutional == nil:
		b.missingSegment(l, "SV2", "SV2 is required")
	case kind == Kind837DClaim && ln.Dental == nil:
		b.missingSegment(l, "SV3", "SV3 is required")
	}
	if kind == Kind837PClaim {
		if _, ok := ln.Dates.Get("472"); !ok {
			b.missingSegment(l, "DTP", "DTP*472 service date is required")
		}
	}
	if len(l.Children) == 0 {
		return
	}
	parties, adjs := len(b.lineParties), len(b.lineAdjs)
	for _, ch := range l.Children {
		switch ch.ID {
		case "2410":
			d := take(&b.drugs)
			d.Loop = ch
			refs := len(b.refs)
			for _, seg := range ch.Segments {
				s := sc.split(seg)
				switch s.code {
				case cLIN:
					d.ProductQualifier, d.ProductID = b.req(s, 2), b.req(s, 3)
				case cCTP:
					d.Quantity, d.UnitBasis = b.req(s, 4), b.reqComp(s, 5, 1)
					b.units(s, 4)
				case cREF:
					b.addRef(s)
				}
			}
			d.Refs = cut(b.refs, refs)
			if _, ok := ch.Segment("CTP"); !ok {
				b.missingSegment(ch, "CTP", "CTP is required")
			}
			ln.Drug = d
		case "2430":
			a := take(&b.lineAdjs)
			a.Loop = ch
			m := b.mark()
			cas := len(b.adjs)
			for _, seg := range ch.Segments {
				s := sc.split(seg)
				switch s.code {
				case cSVD:
					a.OtherPayerID, a.Paid, a.Procedure = b.req(s, 1), b.amount(s, 2, true), b.procedure(s, 3)
					a.RevenueCode, a.PaidUnits, a.BundledLineNumber = s.Element(4), s.Element(5), s.Element(6)
					b.units(s, 5)
				case cCAS:
					b.adjs = b.cas(b.adjs, s)
				case cDTP:
					b.dates = append(b.dates, b.dtp(s))
				case cAMT:
					b.amts = append(b.amts, b.amt(s))
				}
			}
			a.Adjustments, a.Dates, a.Amounts = cut(b.adjs, cas), cut(b.dates, m.d), cut(b.amts, m.a)
			if _, ok := a.Dates.Get("573"); !ok {
				b.missingSegment(ch, "DTP", "DTP*573 adjudication date is required")
			}
		case "2440":
			// Form identification (LQ/FRM): kept in the loop tree only.
		default: // 2420x
			b.partyInto(take(&b.lineParties), ch)
		}
	}
	ln.Providers, ln.Adjudications = cut(b.lineParties, parties), cut(b.lineAdjs, adjs)
}

// units checks that element i of s, when present, is a number.
func (b *binding) units(s *fields, i int) {
	if v := s.Element(i); v != "" && !validAmount(v) {
		b.invalid(s, i, 0, "6", "is not a number", v)
	}
}

// otherSubscriber837 types loop 2320 l into o, which must be zero (from take).
func (b *binding) otherSubscriber837(l *Loop, o *OtherSubscriber837) {
	o.Loop = l
	m := b.mark()
	cas := len(b.adjs)
	var sc fields
	for _, seg := range l.Segments {
		s := sc.split(seg)
		switch s.code {
		case cSBR:
			o.SubscriberInfo = b.sbr(s)
		case cCAS:
			b.adjs = b.cas(b.adjs, s)
		case cAMT:
			b.amts = append(b.amts, b.amt(s))
		case cOI:
			o.OtherInsurance = take(&b.ois)
			*o.OtherInsurance = OtherInsurance{BenefitsAssignment: s.Element(3), PatientSignatureSource: s.Element(4), ReleaseOfInformation: s.Element(6)}
		case cMIA:
			o.Inpatient = mia(b, s)
		case cMOA:
			o.Outpatient = moa(b, s)
		}
	}
	o.Adjustments, o.Amounts = cut(b.adjs, cas), cut(b.amts, m.a)
	if c := b.requireChild(l, "2330A", "NM1"); c != nil {
		b.partyInto(&o.Subscriber, c)
	}
	if c := b.requireChild(l, "2330B", "NM1"); c != nil {
		b.partyInto(&o.Payer, c)
	}
	parties := len(b.cobParties)
	for _, ch := range l.Children {
		if ch.ID != "2330A" && ch.ID != "2330B" {
			b.partyInto(take(&b.cobParties), ch)
		}
	}
	o.Providers = cut(b.cobParties, parties)
}
