package x12

// Member834 is one member of an 834 (loop 2000, INS) with its names, disability,
// health coverage, provider and coordination-of-benefits loops, and its
// context: the header with the sponsor, payer and TPA/broker loops (shared by
// every member of the transaction set: treat it as read-only).
type Member834 struct {
	recordBase

	Header *Header834 // BGN, REF, DTP, QTY and loops 1000A sponsor, 1000B payer, 1000C TPA/broker

	// INS Member Level Detail
	Subscriber           string `json:",omitempty"` // INS01 yes/no condition or response code: "Y" subscriber, "N" dependent
	Relationship         string `json:",omitempty"` // INS02 individual relationship code: "18" self, "01" spouse, "19" child...
	MaintenanceType      string `json:",omitempty"` // INS03 maintenance type code: "001" change, "021" addition, "024" cancellation or termination, "025" reinstatement, "030" audit or compare
	MaintenanceReason    string `json:",omitempty"` // INS04 maintenance reason code
	BenefitStatus        string `json:",omitempty"` // INS05 benefit status code: "A" active, "C" COBRA, "S" surviving insured, "T" TEFRA
	MedicarePlan         string `json:",omitempty"` // INS06-1 Medicare plan code
	MedicareEligibility  string `json:",omitempty"` // INS06-2 eligibility reason code
	COBRAQualifyingEvent string `json:",omitempty"` // INS07 COBRA qualifying event code
	EmploymentStatus     string `json:",omitempty"` // INS08 employment status code
	StudentStatus        string `json:",omitempty"` // INS09 student status code
	Handicapped          string `json:",omitempty"` // INS10 yes/no condition or response code
	DeathDateFormat      string `json:",omitempty"` // INS11 date time period format qualifier: "D8"
	DeathDate            string `json:",omitempty"` // INS12 member individual death date
	Confidentiality      string `json:",omitempty"` // INS13 confidentiality code: "R" restricted, "U" unrestricted
	BirthSequence        string `json:",omitempty"` // INS17 birth sequence number

	Refs  Refs  `json:",omitempty"` // REF: 0F subscriber identifier (required), 1L group or policy number, 23/ZZ/17... supplemental identifiers
	Dates Dates `json:",omitempty"` // DTP member level dates: 356/357 eligibility begin/end, 303 maintenance effective, 336 employment begin...

	Name               MemberName834 // loop 2100A Member Name (NM1*IL or NM1*74)
	IncorrectName      *Party        `json:",omitempty"` // loop 2100B Incorrect Member Name (NM1*70) and its DMG: prior values, for matching
	MailingAddress     *Party        `json:",omitempty"` // loop 2100C Member Mailing Address (NM1*31)
	Employers          []Party       `json:",omitempty"` // loops 2100D Member Employer (NM1*36)
	Schools            []Party       `json:",omitempty"` // loops 2100E Member School (NM1*M8)
	CustodialParent    *Party        `json:",omitempty"` // loop 2100F Custodial Parent (NM1*S3)
	ResponsiblePersons []Party       `json:",omitempty"` // loops 2100G Responsible Person
	DropOffLocation    *Party        `json:",omitempty"` // loop 2100H Drop Off Location (NM1*45)

	Disabilities        []Disability834        `json:",omitempty"` // loops 2200 Disability Information
	Coverages           []Coverage834          `json:",omitempty"` // loops 2300 Health Coverage
	ReportingCategories []ReportingCategory834 `json:",omitempty"` // loops 2700/2750 Member Reporting Categories (between LS*2700 and LE*2700)
}

// SubscriberID returns the subscriber identifier (REF*0F).
func (m *Member834) SubscriberID() string { v, _ := m.Refs.Get("0F"); return v }

// MemberName834 is loop 2100A Member Name: the member's name, communications,
// address, demographics and languages.
type MemberName834 struct {
	Party
	Languages []Language `json:",omitempty"` // LUI member language
}

// Language is LUI.
type Language struct {
	Qualifier   string `json:",omitempty"` // LUI01 identification code qualifier: "LD" NISO Z39.53 3-letter, "LE" ISO 639 2-letter
	Code        string `json:",omitempty"` // LUI02 language code
	Description string `json:",omitempty"` // LUI03 language description
	Use         string `json:",omitempty"` // LUI04 language use indicator: "5" reading, "6" writing, "7" speaking, "8" native
}

// Header834 is the header of an 834 transaction set: BGN, REF, DTP, QTY and
// the sponsor, payer and TPA/broker loops.
type Header834 struct {
	Purpose           string     `json:",omitempty"` // BGN01 transaction set purpose code: "00" original, "15" re-submission, "22" information copy
	Reference         string     `json:",omitempty"` // BGN02 transaction set reference number
	Date              string     `json:",omitempty"` // BGN03 transaction set creation date (CCYYMMDD)
	Time              string     `json:",omitempty"` // BGN04 transaction set creation time
	TimeZone          string     `json:",omitempty"` // BGN05 time zone code
	OriginalReference string     `json:",omitempty"` // BGN06 original transaction set reference number
	Action            string     `json:",omitempty"` // BGN08 action code: "2" change (update), "4" verify, "RX" replace
	Refs              Refs       `json:",omitempty"` // REF*38 master policy number
	Dates             Dates      `json:",omitempty"` // DTP: 007 effective, 090/091 report start/end, 303 maintenance effective, 382 enrollment, 388 payment commencement
	Quantities        Quantities `json:",omitempty"` // QTY: DT dependent total, ET employee total, TO total
	Sponsor           Party      // loop 1000A Sponsor Name (N1*P5)
	Payer             Party      // loop 1000B Payer (N1*IN)
	Brokers           []Party    `json:",omitempty"` // loops 1000C TPA/Broker Name (N1*BO or N1*TV); ACT is in the loop tree (1100C)
	Loop              *Loop      `json:"-"`          // the loop and all its segments
}

// Disability834 is loop 2200 Disability Information: DSB and its DTP.
type Disability834 struct {
	Type               string `json:",omitempty"` // DSB01 disability type code
	DiagnosisQualifier string `json:",omitempty"` // DSB07 product/service id qualifier
	Diagnosis          string `json:",omitempty"` // DSB08 diagnosis code
	Dates              Dates  `json:",omitempty"` // DTP*360/361 disability eligibility start/end
	Loop               *Loop  `json:"-"`          // the loop and all its segments
}

// Coverage834 is loop 2300 Health Coverage.
type Coverage834 struct {
	MaintenanceType        string        `json:",omitempty"` // HD01 maintenance type code: "001" change, "002" delete, "021" addition, "024" cancellation or termination, "025" reinstatement, "026" correction, "030" audit or compare, "032" employee information not applicable
	InsuranceLine          string        `json:",omitempty"` // HD03 insurance line code: "HLT" health, "DEN" dental, "VIS" vision, "PDG" prescription drug, "HMO", "PPO"...
	PlanDescription        string        `json:",omitempty"` // HD04 plan coverage description
	CoverageLevel          string        `json:",omitempty"` // HD05 coverage level code: "EMP", "ESP", "FAM", "IND", "CHD"...
	LateEnrollment         string        `json:",omitempty"` // HD09 late enrollment indicator
	Dates                  Dates         `json:",omitempty"` // DTP: 348 benefit begin, 349 benefit end, 303 maintenance effective, 543 last premium paid, 695 previous period...
	Amounts                Amounts       `json:",omitempty"` // AMT: B9 co-insurance, C1 co-payment, D2 deductible, EBA expected expenditure, FK other unlisted, P3 premium, R spend down
	Refs                   Refs          `json:",omitempty"` // REF: 1L group or policy, 17 client reporting category, 9V payment category, CE class of contract, E8 service contract, M7 medical assistance category, PID program, RB rate code, X9, XM, ZX county, ZZ, QQ prior coverage months
	IDCards                []IDCard      `json:",omitempty"` // IDC identification card
	Providers              []Provider834 `json:",omitempty"` // loops 2310 Provider Information
	CoordinationOfBenefits []COB834      `json:",omitempty"` // loops 2320 Coordination of Benefits
	Loop                   *Loop         `json:"-"`          // the loop and all its segments
}

// IDCard is IDC.
type IDCard struct {
	PlanDescription string `json:",omitempty"` // IDC01 plan coverage description
	CardType        string `json:",omitempty"` // IDC02 identification card type code
	Quantity        string `json:",omitempty"` // IDC03 identification card count
	Action          string `json:",omitempty"` // IDC04 action code
}

// Provider834 is loop 2310 Provider Information: LX, NM1 (P3 primary care
// provider, 1X, 3D, 80, FA, OD, QA, QN, Y2), N3, N4, PER and PLA.
type Provider834 struct {
	LineNumber string // LX01 assigned number
	Party
	ChangeReason string `json:",omitempty"` // PLA05 maintenance reason code (provider change reason)
	ChangeDate   string `json:",omitempty"` // PLA03 provider change effective date
}

// COB834 is loop 2320 Coordination of Benefits with its 2330 related entities.
type COB834 struct {
	PayerResponsibility string   `json:",omitempty"` // COB01 payer responsibility sequence number code: "P", "S", "T", "U"
	PolicyNumber        string   `json:",omitempty"` // COB02 member group or policy number
	Coordination        string   `json:",omitempty"` // COB03 coordination of benefits code: "1" coordination, "5" unknown, "6" no coordination
	ServiceTypes        []string `json:",omitempty"` // COB04 service type codes (repeats)
	Refs                Refs     `json:",omitempty"` // REF: 60 account suffix, 6P group, SY SSN, ZZ
	Dates               Dates    `json:",omitempty"` // DTP*344/345 coordination of benefits begin/end
	RelatedEntities     []Party  `json:",omitempty"` // loops 2330 Coordination of Benefits Related Entity (NM1*36 employer, *GW group, *IN insurer)
	Loop                *Loop    `json:"-"`          // the loop and all its segments
}

// ReportingCategory834 is a loop 2750 Reporting Category (N1*75 with its REF
// and DTP), under loop 2700.
type ReportingCategory834 struct {
	Name  string `json:",omitempty"` // N102 member reporting category name
	Refs  Refs   `json:",omitempty"` // REF reporting category reference
	Dates Dates  `json:",omitempty"` // DTP*007 reporting category effective date
	Loop  *Loop  `json:"-"`          // the loop and all its segments
}

var bind834 = binder{context: context834, record: record834}

func context834(b *binding, l *Loop) any {
	if l.ID != headerLoop {
		return nil
	}
	h := &Header834{Loop: l}
	var sc fields
	for _, seg := range l.Segments {
		s := sc.split(seg)
		switch s.code {
		case cBGN:
			h.Purpose, h.Reference, h.Date = b.req(s, 1), b.req(s, 2), b.date(s, 3, true)
			h.Time, h.TimeZone, h.OriginalReference, h.Action = s.Element(4), s.Element(5), s.Element(6), s.Element(8)
		case cREF:
			h.Refs = append(h.Refs, b.ref(s))
		case cDTP:
			h.Dates = append(h.Dates, b.dtp(s))
		case cQTY:
			h.Quantities = append(h.Quantities, b.qty(s))
		}
	}
	if _, ok := l.Segment("BGN"); !ok {
		b.missingSegment(l, "BGN", "BGN is required")
	}
	if c := b.requireChild(l, "1000A", "N1"); c != nil {
		h.Sponsor = b.party(c)
	}
	if c := b.requireChild(l, "1000B", "N1"); c != nil {
		h.Payer = b.party(c)
	}
	for _, c := range l.Children {
		if c.ID == "1000C" {
			h.Brokers = append(h.Brokers, b.party(c))
		}
	}
	return h
}

func record834(b *binding, base recordBase) Record {
	l := base.loop
	m := &Member834{recordBase: base}
	for p := l.Parent; p != nil; p = p.Parent {
		if h, ok := p.typed().(*Header834); ok {
			m.Header = h
		}
	}
	var sc fields
	for _, seg := range l.Segments {
		s := sc.split(seg)
		switch s.code {
		case cINS:
			m.Subscriber, m.Relationship, m.MaintenanceType = b.req(s, 1), b.req(s, 2), b.req(s, 3)
			b.oneOf(s, 1, m.Subscriber, "Y", "N")
			m.MaintenanceReason, m.BenefitStatus = s.Element(4), s.Element(5)
			m.MedicarePlan, m.MedicareEligibility = s.Component(6, 1), s.Component(6, 2)
			m.COBRAQualifyingEvent, m.EmploymentStatus, m.StudentStatus = s.Element(7), s.Element(8), s.Element(9)
			m.Handicapped, m.DeathDateFormat, m.DeathDate = s.Element(10), s.Element(11), s.Element(12)
			m.Confidentiality, m.BirthSequence = s.Element(13), s.Element(17)
			if m.DeathDate != "" {
				b.dated(s, 12, m.DeathDateFormat, m.DeathDate)
			}
		case cREF:
			m.Refs = append(m.Refs, b.ref(s))
		case cDTP:
			m.Dates = append(m.Dates, b.dtp(s))
		}
	}
	if _, ok := m.Refs.Get("0F"); !ok {
		b.missingSegment(l, "REF", "REF*0F subscriber identifier is required")
	}
	if c := b.requireChild(l, "2100A", "NM1"); c != nil {
		m.Name.Party = b.party(c)
		var scLUI fields
		for seg := range c.All("LUI") {
			s := scLUI.split(seg)
			m.Name.Languages = append(m.Name.Languages, Language{Qualifier: s.Element(1), Code: s.Element(2), Description: s.Element(3), Use: s.Element(4)})
		}
	}
	for _, c := range l.Children {
		switch c.ID {
		case "2100A":
		case "2100B":
			p := b.party(c)
			m.IncorrectName = &p
		case "2100C":
			p := b.party(c)
			m.MailingAddress = &p
		case "2100D":
			m.Employers = append(m.Employers, b.party(c))
		case "2100E":
			m.Schools = append(m.Schools, b.party(c))
		case "2100F":
			p := b.party(c)
			m.CustodialParent = &p
		case "2100G":
			m.ResponsiblePersons = append(m.ResponsiblePersons, b.party(c))
		case "2100H":
			p := b.party(c)
			m.DropOffLocation = &p
		case "2200":
			d := Disability834{Loop: c}
			var sc fields
			for _, seg := range c.Segments {
				s := sc.split(seg)
				switch s.code {
				case cDSB:
					d.Type, d.DiagnosisQualifier, d.Diagnosis = b.req(s, 1), s.Element(7), s.Element(8)
				case cDTP:
					d.Dates = append(d.Dates, b.dtp(s))
				}
			}
			m.Disabilities = append(m.Disabilities, d)
		case "2300":
			m.Coverages = append(m.Coverages, b.coverage834(c))
		case "2700":
			for _, cat := range c.Children {
				rc := ReportingCategory834{Loop: cat}
				var sc fields
				for _, seg := range cat.Segments {
					s := sc.split(seg)
					switch s.code {
					case cN1:
						rc.Name = s.Element(2)
					case cREF:
						rc.Refs = append(rc.Refs, b.ref(s))
					case cDTP:
						rc.Dates = append(rc.Dates, b.dtp(s))
					}
				}
				m.ReportingCategories = append(m.ReportingCategories, rc)
			}
		}
	}
	return m
}

func (b *binding) coverage834(l *Loop) Coverage834 {
	cv := Coverage834{Loop: l}
	var sc fields
	for _, seg := range l.Segments {
		s := sc.split(seg)
		switch s.code {
		case cHD:
			cv.MaintenanceType, cv.InsuranceLine = b.req(s, 1), b.req(s, 3)
			cv.PlanDescription, cv.CoverageLevel, cv.LateEnrollment = s.Element(4), s.Element(5), s.Element(9)
		case cDTP:
			cv.Dates = append(cv.Dates, b.dtp(s))
		case cAMT:
			cv.Amounts = append(cv.Amounts, b.amt(s))
		case cREF:
			cv.Refs = append(cv.Refs, b.ref(s))
		case cIDC:
			cv.IDCards = append(cv.IDCards, IDCard{PlanDescription: s.Element(1), CardType: s.Element(2), Quantity: s.Element(3), Action: s.Element(4)})
		}
	}
	for _, c := range l.Children {
		switch c.ID {
		case "2310":
			p := Provider834{LineNumber: b.req(new(fields).split(c.Lead()), 1), Party: b.party(c)}
			var scPLA fields
			if s, ok := scPLA.find(c, "PLA"); ok {
				p.ChangeDate, p.ChangeReason = b.date(s, 3, false), s.Element(5)
			}
			cv.Providers = append(cv.Providers, p)
		case "2320":
			cob := COB834{Loop: c}
			var sc fields
			for _, seg := range c.Segments {
				s := sc.split(seg)
				switch s.code {
				case cCOB:
					cob.PayerResponsibility, cob.PolicyNumber, cob.Coordination = b.req(s, 1), s.Element(2), b.req(s, 3)
					for r := 1; r <= s.Repetitions(4); r++ {
						cob.ServiceTypes = append(cob.ServiceTypes, s.RepetitionComponent(4, r, 0))
					}
				case cREF:
					cob.Refs = append(cob.Refs, b.ref(s))
				case cDTP:
					cob.Dates = append(cob.Dates, b.dtp(s))
				}
			}
			for _, e := range c.Children {
				cob.RelatedEntities = append(cob.RelatedEntities, b.party(e))
			}
			cv.CoordinationOfBenefits = append(cv.CoordinationOfBenefits, cob)
		}
	}
	return cv
}
