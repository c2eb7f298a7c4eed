package x12

// Typed parts shared by the records of several transactions: names, addresses,
// references, dates, amounts, adjustments... Every value is the raw element text
// ("" when absent); see values.go for parsing helpers. Field comments name the
// element each value comes from, in implementation-guide notation (NM103 is
// element 3 of NM1; SV101-2 is component 2 of element 1 of SV1).

// Entity is an individual or organizational name: NM1 (837, 834, 835 loop 2100)
// or N1 (835 1000A/1000B, 834 1000A–1000C, 2750).
type Entity struct {
	Code          string `json:",omitempty"` // NM101 / N101 entity identifier code: "85" billing provider, "IL" insured, "PR" payer, "QC" patient...
	Type          string `json:",omitempty"` // NM102 entity type qualifier: "1" person, "2" non-person entity ("" for N1)
	LastOrOrgName string `json:",omitempty"` // NM103 last or organization name / N102 name
	First         string `json:",omitempty"` // NM104 first name
	Middle        string `json:",omitempty"` // NM105 middle name or initial
	Prefix        string `json:",omitempty"` // NM106 name prefix
	Suffix        string `json:",omitempty"` // NM107 name suffix
	IDQualifier   string `json:",omitempty"` // NM108 / N103 identification code qualifier: "XX" NPI, "MI" member id, "PI" payer id, "FI"/"24" tax id, "34" SSN, "46" ETIN...
	ID            string `json:",omitempty"` // NM109 / N104 identification code
	Relationship  string `json:",omitempty"` // NM110 entity relationship code (834 loop 2310: "25" established patient, "26" not established, "72" unknown)
}

// IsPerson reports whether the entity is an individual (NM102 = "1").
func (e Entity) IsPerson() bool { return e.Type == "1" }

// Address is a postal address: N3 and N4.
type Address struct {
	Line1              string `json:",omitempty"` // N301 address information
	Line2              string `json:",omitempty"` // N302 address information
	City               string `json:",omitempty"` // N401 city name
	State              string `json:",omitempty"` // N402 state or province code
	PostalCode         string `json:",omitempty"` // N403 postal code
	Country            string `json:",omitempty"` // N404 country code (only outside the US)
	LocationQualifier  string `json:",omitempty"` // N405 location qualifier (834: "CY" county, "60" area)
	LocationID         string `json:",omitempty"` // N406 location identifier (834: county code)
	CountrySubdivision string `json:",omitempty"` // N407 country subdivision code
}

// Ref is a reference identification: REF.
type Ref struct {
	Qualifier   string `json:",omitempty"` // REF01 reference identification qualifier: "EI" EIN, "G1" prior authorization, "6R" line item control number, "0F" subscriber number...
	Value       string `json:",omitempty"` // REF02 reference identification
	Description string `json:",omitempty"` // REF03 description
	// REF04 reference identifier composite (e.g. "2U" payer id on a line-level prior authorization).
	OtherQualifier string `json:",omitempty"` // REF04-1
	Other          string `json:",omitempty"` // REF04-2
}

// Refs is a list of REF segments in input order.
type Refs []Ref

// Get returns the value (REF02) of the first reference with the given qualifier.
func (r Refs) Get(qualifier string) (string, bool) {
	for _, x := range r {
		if x.Qualifier == qualifier {
			return x.Value, true
		}
	}
	return "", false
}

// Contact is an administrative communications contact: PER.
type Contact struct {
	Function string          `json:",omitempty"` // PER01 contact function code: "IC" information contact, "BL" technical, "CX" claims...
	Name     string          `json:",omitempty"` // PER02 name
	Numbers  []Communication `json:",omitempty"` // PER03–PER08 pairs
}

// Communication is one communication number of a contact.
type Communication struct {
	Qualifier string `json:",omitempty"` // PER03/05/07 communication number qualifier: "TE" telephone, "EM" e-mail, "FX" fax, "EX" extension, "UR" URL
	Number    string `json:",omitempty"` // PER04/06/08 communication number
}

// Demographics is DMG: birth date, gender and (834) marital status, race or
// ethnicity and citizenship.
type Demographics struct {
	DateFormat    string          `json:",omitempty"` // DMG01 date time period format qualifier: "D8"
	BirthDate     string          `json:",omitempty"` // DMG02 date of birth (CCYYMMDD)
	Gender        string          `json:",omitempty"` // DMG03 gender code: "F", "M", "U"
	MaritalStatus string          `json:",omitempty"` // DMG04 marital status code (834)
	RaceEthnicity []RaceEthnicity `json:",omitempty"` // DMG05 composite race or ethnicity information (834; repeats)
	Citizenship   string          `json:",omitempty"` // DMG06 citizenship status code (834)
}

// RaceEthnicity is one repetition of the DMG05 composite.
type RaceEthnicity struct {
	Code          string `json:",omitempty"` // DMG05-1 race or ethnicity code
	CodeQualifier string `json:",omitempty"` // DMG05-2 code list qualifier ("RET" CDC race and ethnicity)
	Detailed      string `json:",omitempty"` // DMG05-3 detailed race or ethnicity code
}

// ProviderInfo is PRV: the provider's role and taxonomy.
type ProviderInfo struct {
	Code        string `json:",omitempty"` // PRV01 provider code: "BI" billing, "PE" performing, "AT" attending...
	IDQualifier string `json:",omitempty"` // PRV02 reference identification qualifier: "PXC" taxonomy code
	Taxonomy    string `json:",omitempty"` // PRV03 provider taxonomy code (NUCC)
}

// DateTimePeriod is a date or time or period: DTP.
type DateTimePeriod struct {
	Qualifier string `json:",omitempty"` // DTP01 date/time qualifier: "472" service, "434" statement, "435" admission, "573" adjudication, "348" benefit begin...
	Format    string `json:",omitempty"` // DTP02 date time period format qualifier: "D8", "RD8", "DT", "RDT", "TM"
	Value     string `json:",omitempty"` // DTP03 date time period
}

// Period parses the value according to its format; see [ParsePeriod].
func (d DateTimePeriod) Period() (Period, error) { return ParsePeriod(d.Format, d.Value) }

// Dates is a list of DTP segments in input order.
type Dates []DateTimePeriod

// Get returns the first DTP with the given qualifier.
func (d Dates) Get(qualifier string) (DateTimePeriod, bool) {
	for _, x := range d {
		if x.Qualifier == qualifier {
			return x, true
		}
	}
	return DateTimePeriod{}, false
}

// DateTime is a date/time reference of the 835: DTM. The date is always CCYYMMDD.
type DateTime struct {
	Qualifier string `json:",omitempty"` // DTM01 date/time qualifier: "405" production, "232"/"233" statement from/to, "050" received, "472" service, "150"/"151" service period start/end, "036" coverage expiration
	Date      string `json:",omitempty"` // DTM02 date (CCYYMMDD)
	Time      string `json:",omitempty"` // DTM03 time
}

// DateTimes is a list of DTM segments in input order.
type DateTimes []DateTime

// Get returns the first DTM with the given qualifier.
func (d DateTimes) Get(qualifier string) (DateTime, bool) {
	for _, x := range d {
		if x.Qualifier == qualifier {
			return x, true
		}
	}
	return DateTime{}, false
}

// MonetaryAmount is AMT.
type MonetaryAmount struct {
	Qualifier string `json:",omitempty"` // AMT01 amount qualifier code: "F5" patient paid, "D" payer paid, "EAF" remaining patient liability, "B6" allowed, "AU" coverage...
	Amount    Amount `json:",omitempty"` // AMT02 monetary amount
}

// Amounts is a list of AMT segments in input order.
type Amounts []MonetaryAmount

// Get returns the amount (AMT02) of the first AMT with the given qualifier.
func (a Amounts) Get(qualifier string) (Amount, bool) {
	for _, x := range a {
		if x.Qualifier == qualifier {
			return x.Amount, true
		}
	}
	return "", false
}

// Quantity is QTY.
type Quantity struct {
	Qualifier string `json:",omitempty"` // QTY01 quantity qualifier: "PT" patients, "CA" covered actual, "DT" dependents...
	Quantity  string `json:",omitempty"` // QTY02 quantity
}

// Quantities is a list of QTY segments in input order.
type Quantities []Quantity

// Get returns the quantity (QTY02) of the first QTY with the given qualifier.
func (q Quantities) Get(qualifier string) (string, bool) {
	for _, x := range q {
		if x.Qualifier == qualifier {
			return x.Quantity, true
		}
	}
	return "", false
}

// Note is a note or special instruction: NTE.
type Note struct {
	Reference string `json:",omitempty"` // NTE01 note reference code: "ADD" additional information, "TPO" third party organization...
	Text      string `json:",omitempty"` // NTE02 description
}

// Attachment is a paperwork (attachment) reference: PWK.
type Attachment struct {
	ReportType   string `json:",omitempty"` // PWK01 attachment report type code
	Transmission string `json:",omitempty"` // PWK02 attachment transmission code: "AA" available on request, "BM" by mail, "EL" electronic, "FX" fax...
	IDQualifier  string `json:",omitempty"` // PWK05 identification code qualifier: "AC" attachment control number
	ID           string `json:",omitempty"` // PWK06 attachment control number
}

// Adjustment is one (group, reason, amount, quantity) entry of a CAS segment;
// a CAS segment carries up to six.
type Adjustment struct {
	Group    string `json:",omitempty"` // CAS01 claim adjustment group code: "CO", "OA", "PI", "PR" (and "CR" in 837 COB)
	Reason   string `json:",omitempty"` // CAS02/05/08/11/14/17 claim adjustment reason code (CARC)
	Amount   Amount `json:",omitempty"` // CAS03/06/09/12/15/18 monetary amount (positive reduces payment)
	Quantity string `json:",omitempty"` // CAS04/07/10/13/16/19 quantity
}

// Procedure is a composite medical procedure identifier: SV101, SV202, SV301,
// SVC01, SVC06, SVD03.
type Procedure struct {
	Qualifier   string   `json:",omitempty"` // -1 product/service id qualifier: "HC" CPT/HCPCS, "AD" CDT, "NU" revenue code, "HP" HIPPS, "N4" NDC, "ER", "IV", "WK"
	Code        string   `json:",omitempty"` // -2 procedure code
	Modifiers   []string `json:",omitempty"` // -3 to -6 procedure modifiers (empty positions kept so indexes line up, trailing empties dropped)
	Description string   `json:",omitempty"` // -7 description
}

// HealthCareCode is one composite of an HI segment (diagnosis, procedure,
// condition, occurrence, value or treatment code).
type HealthCareCode struct {
	Qualifier          string `json:",omitempty"` // HIxx-1 code list qualifier: "ABK" principal ICD-10-CM diagnosis, "ABF" other, "ABJ" admitting, "APR" reason for visit, "ABN" external cause, "BBR" principal ICD-10-PCS procedure, "BBQ" other procedure, "BP"/"BO" HCPCS, "BG" condition, "BH" occurrence, "BI" occurrence span, "BE" value, "DR" DRG, "TC" treatment
	Code               string `json:",omitempty"` // HIxx-2 industry code
	DateFormat         string `json:",omitempty"` // HIxx-3 date time period format qualifier ("D8", "RD8")
	Date               string `json:",omitempty"` // HIxx-4 date time period
	Amount             Amount `json:",omitempty"` // HIxx-5 monetary amount (value codes)
	Quantity           string `json:",omitempty"` // HIxx-6 quantity
	PresentOnAdmission string `json:",omitempty"` // HIxx-9 present on admission indicator (837I): "Y", "N", "U", "W"
}

// IsPrincipalDiagnosis reports whether c is a principal diagnosis (ABK, BK).
func (c HealthCareCode) IsPrincipalDiagnosis() bool {
	return c.Qualifier == "ABK" || c.Qualifier == "BK"
}

// IsDiagnosis reports whether c is a principal or other diagnosis (ABK, ABF,
// BK, BF): the list that 837 diagnosis pointers (SV107, SV311) index.
func (c HealthCareCode) IsDiagnosis() bool {
	switch c.Qualifier {
	case "ABK", "ABF", "BK", "BF":
		return true
	}
	return false
}

// InpatientAdjudication is MIA (835 loop 2100, 837I loop 2320).
type InpatientAdjudication struct {
	CoveredDays                     string   `json:",omitempty"` // MIA01 covered days or visits count
	PPSOperatingOutlier             Amount   `json:",omitempty"` // MIA02 PPS operating outlier amount
	LifetimePsychiatricDays         string   `json:",omitempty"` // MIA03 lifetime psychiatric days count
	DRGAmount                       Amount   `json:",omitempty"` // MIA04 claim DRG amount
	DisproportionateShare           Amount   `json:",omitempty"` // MIA06 claim disproportionate share amount
	MSPPassThrough                  Amount   `json:",omitempty"` // MIA07 claim MSP pass-through amount
	PPSCapital                      Amount   `json:",omitempty"` // MIA08 claim PPS capital amount
	PPSCapitalFSPDRG                Amount   `json:",omitempty"` // MIA09 PPS-capital FSP DRG amount
	PPSCapitalHSPDRG                Amount   `json:",omitempty"` // MIA10 PPS-capital HSP DRG amount
	PPSCapitalDSHDRG                Amount   `json:",omitempty"` // MIA11 PPS-capital DSH DRG amount
	OldCapital                      Amount   `json:",omitempty"` // MIA12 old capital amount
	PPSCapitalIME                   Amount   `json:",omitempty"` // MIA13 PPS-capital IME amount
	PPSOperatingHospitalSpecificDRG Amount   `json:",omitempty"` // MIA14 PPS-operating hospital specific DRG amount
	PPSOperatingFederalSpecificDRG  Amount   `json:",omitempty"` // MIA16 PPS-operating federal specific DRG amount
	PPSCapitalOutlier               Amount   `json:",omitempty"` // MIA17 claim PPS capital outlier amount
	IndirectTeaching                Amount   `json:",omitempty"` // MIA18 claim indirect teaching amount
	NonPayableProfessional          Amount   `json:",omitempty"` // MIA19 non-payable professional component amount
	Remarks                         []string `json:",omitempty"` // MIA05, MIA20–MIA23 claim payment remark codes (RARC)
	PPSCapitalException             Amount   `json:",omitempty"` // MIA24 PPS capital exception amount
	CostReportDays                  string   `json:",omitempty"` // MIA15 cost report day count
}

// OutpatientAdjudication is MOA (835 loop 2100, 837 loop 2320).
type OutpatientAdjudication struct {
	ReimbursementRate      string   `json:",omitempty"` // MOA01 reimbursement rate (percentage)
	HCPCSPayable           Amount   `json:",omitempty"` // MOA02 claim HCPCS payable amount
	Remarks                []string `json:",omitempty"` // MOA03–MOA07 claim payment remark codes (RARC)
	ESRDPayment            Amount   `json:",omitempty"` // MOA08 claim ESRD payment amount
	NonPayableProfessional Amount   `json:",omitempty"` // MOA09 non-payable professional component amount
}

// Party is a name loop (NM1- or N1-led): a provider, a payer, a subscriber, a
// patient, a sponsor... with the address, references, contacts, taxonomy,
// demographics and dates its loop carries.
type Party struct {
	LoopID       string        `json:",omitempty"` // implementation guide loop id, such as "2010AA" or "2310B"
	Entity                     // NM1 / N1
	Address      *Address      `json:",omitempty"` // N3, N4
	Refs         Refs          `json:",omitempty"` // REF
	Contacts     []Contact     `json:",omitempty"` // PER
	Provider     *ProviderInfo `json:",omitempty"` // PRV
	Demographics *Demographics `json:",omitempty"` // DMG
	Dates        Dates         `json:",omitempty"` // DTP (837 2330B DTP*573 adjudication date...)
	Loop         *Loop         `json:"-"`          // the loop and all its segments
}
