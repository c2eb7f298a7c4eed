package x12

// ClaimPayment835 is one claim payment of an 835 (loop 2100, CLP) with its
// service payments (loops 2110) and its context: the header (payment and trace,
// payer, payee) and the header number loop (2000). The context parts are
// pointers shared by every claim payment of the transaction set: treat them as
// read-only.
type ClaimPayment835 struct {
	recordBase

	Header       *Header835       // BPR, TRN, CUR, REF, DTM and loops 1000A payer, 1000B payee
	HeaderNumber *HeaderNumber835 `json:",omitempty"` // loop 2000 (LX, TS3, TS2); nil when the claim is not under an LX

	// CLP Claim Payment Information
	PatientControlNumber    string `json:",omitempty"` // CLP01 patient control number (= 837 CLM01)
	Status                  string `json:",omitempty"` // CLP02 claim status code: "1"/"2"/"3" processed as primary/secondary/tertiary, "4" denied, "19"–"21" processed and forwarded, "22" reversal of previous payment, "23" not our claim, "25" predetermination
	TotalCharge             Amount `json:",omitempty"` // CLP03 total claim charge amount
	Payment                 Amount `json:",omitempty"` // CLP04 claim payment amount
	PatientResponsibility   Amount `json:",omitempty"` // CLP05 patient responsibility amount
	ClaimFilingIndicator    string `json:",omitempty"` // CLP06 claim filing indicator code
	PayerClaimControlNumber string `json:",omitempty"` // CLP07 payer claim control number (ICN)
	FacilityCode            string `json:",omitempty"` // CLP08 facility type code (institutional) or place of service
	FrequencyCode           string `json:",omitempty"` // CLP09 claim frequency type code
	DRGCode                 string `json:",omitempty"` // CLP11 diagnosis related group (DRG) code
	DRGWeight               string `json:",omitempty"` // CLP12 DRG weight
	DischargeFraction       string `json:",omitempty"` // CLP13 discharge fraction (percentage)

	Adjustments []Adjustment            `json:",omitempty"` // CAS claim-level adjustments
	Entities    []Entity                `json:",omitempty"` // NM1: QC patient, IL insured, 74 corrected patient/insured, 82 rendering provider, TT crossover carrier, PR corrected priority payer, GB other subscriber
	Inpatient   *InpatientAdjudication  `json:",omitempty"` // MIA inpatient adjudication information
	Outpatient  *OutpatientAdjudication `json:",omitempty"` // MOA outpatient adjudication information
	Refs        Refs                    `json:",omitempty"` // REF: 1L group, EA medical record, F8 original reference (corrections), 28/6P...
	Dates       DateTimes               `json:",omitempty"` // DTM: 232/233 statement from/to, 036 coverage expiration, 050 received
	Contacts    []Contact               `json:",omitempty"` // PER*CX claim contact
	Amounts     Amounts                 `json:",omitempty"` // AMT: AU coverage, D8 discount, F5 patient paid, I interest...
	Quantities  Quantities              `json:",omitempty"` // QTY: CA covered actual, CD co-insured, NE non-covered...
	Services    []ServicePayment835     `json:",omitempty"` // loops 2110 Service Payment Information
}

// Entity returns the first NM1 of the claim payment with the given entity
// identifier code ("QC" patient, "IL" insured, "82" rendering provider...).
func (c *ClaimPayment835) Entity(code string) (Entity, bool) {
	for _, e := range c.Entities {
		if e.Code == code {
			return e, true
		}
	}
	return Entity{}, false
}

// IsReversal reports whether the claim payment reverses a previous payment
// (CLP02 = "22").
func (c *ClaimPayment835) IsReversal() bool { return c.Status == "22" }

// Header835 is the header of an 835 transaction set: financial information
// (BPR), reassociation trace (TRN), currency, references and dates, with the
// payer and payee loops.
type Header835 struct {
	HandlingCode             string    `json:",omitempty"` // BPR01 transaction handling code: "C" payment and remittance, "D" payment only, "H" notification, "I" remittance only, "P" prenotification, "U" split, "X" handling party's option
	TotalPayment             Amount    `json:",omitempty"` // BPR02 total actual provider payment amount
	CreditDebit              string    `json:",omitempty"` // BPR03 credit/debit flag code: "C", "D"
	PaymentMethod            string    `json:",omitempty"` // BPR04 payment method code: "ACH", "BOP", "CHK", "FWT", "NON"
	PaymentFormat            string    `json:",omitempty"` // BPR05 payment format code: "CCP", "CTX"
	SenderDFIQualifier       string    `json:",omitempty"` // BPR06 depository financial institution id number qualifier
	SenderDFI                string    `json:",omitempty"` // BPR07 sender DFI identifier
	SenderAccountQualifier   string    `json:",omitempty"` // BPR08 account number qualifier
	SenderAccount            string    `json:",omitempty"` // BPR09 sender bank account number
	OriginatingCompanyID     string    `json:",omitempty"` // BPR10 payer identifier
	OriginatingCompanyCode   string    `json:",omitempty"` // BPR11 originating company supplemental code
	ReceiverDFIQualifier     string    `json:",omitempty"` // BPR12 depository financial institution id number qualifier
	ReceiverDFI              string    `json:",omitempty"` // BPR13 receiver DFI identification number
	ReceiverAccountQualifier string    `json:",omitempty"` // BPR14 account number qualifier
	ReceiverAccount          string    `json:",omitempty"` // BPR15 receiver account number
	PaymentDate              string    `json:",omitempty"` // BPR16 check issue or EFT effective date (CCYYMMDD)
	Trace                    Trace     // TRN reassociation trace number
	Currency                 string    `json:",omitempty"` // CUR02 currency code
	Refs                     Refs      `json:",omitempty"` // REF: EV receiver identification, F2 version
	Dates                    DateTimes `json:",omitempty"` // DTM*405 production date
	Payer                    Party     // loop 1000A Payer Identification (N1*PR), N3, N4, REF, PER
	Payee                    Party     // loop 1000B Payee Identification (N1*PE), N3, N4, REF, RDM
	Loop                     *Loop     `json:"-"` // the loop and all its segments
}

// Trace is TRN.
type Trace struct {
	Type          string `json:",omitempty"` // TRN01 trace type code: "1" current transaction trace numbers
	Number        string `json:",omitempty"` // TRN02 check or EFT trace number
	OriginatorID  string `json:",omitempty"` // TRN03 payer identifier ("1" followed by the payer's EIN)
	Supplementary string `json:",omitempty"` // TRN04 originating company supplemental code
}

// HeaderNumber835 is loop 2000 Header Number: LX and the provider summary (TS3)
// and supplemental summary (TS2) information.
type HeaderNumber835 struct {
	Number string           `json:",omitempty"` // LX01 assigned number
	TS3    *ProviderSummary `json:",omitempty"` // TS3 provider summary information
	Loop   *Loop            `json:"-"`          // the loop and all its segments
}

// ProviderSummary is TS3 (835 loop 2000).
type ProviderSummary struct {
	ProviderID       string `json:",omitempty"` // TS301 provider identifier
	FacilityCode     string `json:",omitempty"` // TS302 facility type code
	FiscalPeriodDate string `json:",omitempty"` // TS303 fiscal period date (CCYYMMDD)
	ClaimCount       string `json:",omitempty"` // TS304 total claim count
	TotalCharge      Amount `json:",omitempty"` // TS305 total claim charge amount
}

// ServicePayment835 is loop 2110 Service Payment Information.
type ServicePayment835 struct {
	Procedure         Procedure    // SVC01 composite medical procedure identifier as adjudicated
	Charge            Amount       `json:",omitempty"` // SVC02 line item charge amount
	Payment           Amount       `json:",omitempty"` // SVC03 line item provider payment amount
	RevenueCode       string       `json:",omitempty"` // SVC04 NUBC revenue code
	UnitsPaid         string       `json:",omitempty"` // SVC05 units of service paid count
	OriginalProcedure *Procedure   `json:",omitempty"` // SVC06 procedure as submitted, when it differs from SVC01
	OriginalUnits     string       `json:",omitempty"` // SVC07 original units of service count
	Dates             DateTimes    `json:",omitempty"` // DTM: 472 service date, 150/151 service period start/end
	Adjustments       []Adjustment `json:",omitempty"` // CAS service adjustments
	Refs              Refs         `json:",omitempty"` // REF: 6R line item control number (= 837 REF*6R), LU location, HPI rendering NPI...
	Amounts           Amounts      `json:",omitempty"` // AMT: B6 allowed actual, KH deduction, T tax...
	Quantities        Quantities   `json:",omitempty"` // QTY*ZK... service supplemental quantities
	Remarks           []Remark     `json:",omitempty"` // LQ health care remark codes
	Loop              *Loop        `json:"-"`          // the loop and all its segments
}

// ControlNumber returns the line item control number (REF*6R).
func (s *ServicePayment835) ControlNumber() string { v, _ := s.Refs.Get("6R"); return v }

// Remark is LQ.
type Remark struct {
	Qualifier string `json:",omitempty"` // LQ01 code list qualifier code: "HE" claim payment remark (RARC), "RX" NCPDP reject/payment code
	Code      string `json:",omitempty"` // LQ02 remark code
}

// ProviderAdjustment835 is the provider-level adjustments (PLB segments) of an
// 835 transaction set: reported once per transaction set, after its claim
// payments, as a record of its own.
type ProviderAdjustment835 struct {
	recordBase

	Header      *Header835           // the transaction set header, payer and payee
	Adjustments []ProviderAdjustment // every adjustment of every PLB, in order
}

// ProviderAdjustment is one adjustment of a PLB segment (a PLB carries up to six).
type ProviderAdjustment struct {
	ProviderID       string `json:",omitempty"` // PLB01 provider identifier
	FiscalPeriodDate string `json:",omitempty"` // PLB02 fiscal period date (CCYYMMDD)
	Reason           string `json:",omitempty"` // PLB03-1/05-1/... adjustment reason code: "FB" forwarding balance, "L6" interest, "WO" overpayment recovery, "CS" adjustment...
	Reference        string `json:",omitempty"` // PLB03-2/05-2/... reference identification (e.g. the claim's ICN)
	Amount           Amount `json:",omitempty"` // PLB04/06/... provider adjustment amount (positive reduces the payment)
}

var bind835 = binder{context: context835, record: record835}

func context835(b *binding, l *Loop) any {
	switch l.ID {
	case headerLoop:
		h := &Header835{Loop: l}
		var scBPR fields
		if s, ok := scBPR.find(l, "BPR"); ok {
			h.HandlingCode, h.TotalPayment, h.CreditDebit = b.req(s, 1), b.amount(s, 2, true), b.req(s, 3)
			h.PaymentMethod, h.PaymentFormat = b.req(s, 4), s.Element(5)
			h.SenderDFIQualifier, h.SenderDFI, h.SenderAccountQualifier, h.SenderAccount = s.Element(6), s.Element(7), s.Element(8), s.Element(9)
			h.OriginatingCompanyID, h.OriginatingCompanyCode = s.Element(10), s.Element(11)
			h.ReceiverDFIQualifier, h.ReceiverDFI, h.ReceiverAccountQualifier, h.ReceiverAccount = s.Element(12), s.Element(13), s.Element(14), s.Element(15)
			h.PaymentDate = b.date(s, 16, true)
			b.oneOf(s, 3, h.CreditDebit, "C", "D")
		} else {
			b.missingSegment(l, "BPR", "BPR is required")
		}
		var scTRN fields
		if s, ok := scTRN.find(l, "TRN"); ok {
			h.Trace = Trace{Type: b.req(s, 1), Number: b.req(s, 2), OriginatorID: b.req(s, 3), Supplementary: s.Element(4)}
		} else {
			b.missingSegment(l, "TRN", "TRN is required")
		}
		var sc fields
		for _, seg := range l.Segments {
			s := sc.split(seg)
			switch s.code {
			case cCUR:
				h.Currency = s.Element(2)
			case cREF:
				h.Refs = append(h.Refs, b.ref(s))
			case cDTM:
				h.Dates = append(h.Dates, b.dtm(s))
			}
		}
		if c := b.requireChild(l, "1000A", "N1"); c != nil {
			h.Payer = b.party(c)
		}
		if c := b.requireChild(l, "1000B", "N1"); c != nil {
			h.Payee = b.party(c)
		}
		return h
	case "2000":
		n := &HeaderNumber835{Number: b.req(new(fields).split(l.Lead()), 1), Loop: l}
		var scTS3 fields
		if s, ok := scTS3.find(l, "TS3"); ok {
			n.TS3 = &ProviderSummary{ProviderID: s.Element(1), FacilityCode: s.Element(2), FiscalPeriodDate: b.date(s, 3, false),
				ClaimCount: s.Element(4), TotalCharge: b.amount(s, 5, false)}
		}
		return n
	}
	return nil
}

func record835(b *binding, base recordBase) Record {
	l := base.loop
	var header *Header835
	var number *HeaderNumber835
	for p := l.Parent; p != nil; p = p.Parent {
		switch v := p.typed().(type) {
		case *Header835:
			header = v
		case *HeaderNumber835:
			number = v
		}
	}
	if base.kind == Kind835ProviderAdjustment {
		pa := &ProviderAdjustment835{recordBase: base, Header: header}
		var sc fields
		for _, seg := range l.Segments {
			s := sc.split(seg)
			provider := b.req(s, 1)
			period := b.date(s, 2, true)
			for i := 3; i <= 13; i += 2 {
				if s.Element(i) == "" && s.Element(i+1) == "" {
					continue
				}
				pa.Adjustments = append(pa.Adjustments, ProviderAdjustment{ProviderID: provider, FiscalPeriodDate: period,
					Reason: b.reqComp(s, i, 1), Reference: s.Component(i, 2), Amount: b.amount(s, i+1, true)})
			}
			if s.Element(3) == "" {
				b.missing(s, 3, 0)
			}
		}
		return pa
	}
	c := &ClaimPayment835{recordBase: base, Header: header, HeaderNumber: number}
	var sc fields
	for _, seg := range l.Segments {
		s := sc.split(seg)
		switch s.code {
		case cCLP:
			c.PatientControlNumber, c.Status = b.req(s, 1), b.req(s, 2)
			c.TotalCharge, c.Payment, c.PatientResponsibility = b.amount(s, 3, true), b.amount(s, 4, true), b.amount(s, 5, false)
			c.ClaimFilingIndicator, c.PayerClaimControlNumber = s.Element(6), s.Element(7)
			c.FacilityCode, c.FrequencyCode = s.Element(8), s.Element(9)
			c.DRGCode, c.DRGWeight, c.DischargeFraction = s.Element(11), s.Element(12), s.Element(13)
			b.oneOf(s, 2, c.Status, "1", "2", "3", "4", "19", "20", "21", "22", "23", "25")
		case cCAS:
			c.Adjustments = b.cas(c.Adjustments, s)
		case cNM1:
			c.Entities = append(c.Entities, nm1(s))
		case cMIA:
			c.Inpatient = mia(b, s)
		case cMOA:
			c.Outpatient = moa(b, s)
		case cREF:
			c.Refs = append(c.Refs, b.ref(s))
		case cDTM:
			c.Dates = append(c.Dates, b.dtm(s))
		case cPER:
			c.Contacts = append(c.Contacts, b.per(s))
		case cAMT:
			c.Amounts = append(c.Amounts, b.amt(s))
		case cQTY:
			c.Quantities = append(c.Quantities, b.qty(s))
		}
	}
	if _, ok := c.Entity("QC"); !ok {
		b.missingSegment(l, "NM1", "NM1*QC patient name is required")
	}
	if n := len(l.Children); n > 0 {
		c.Services = make([]ServicePayment835, 0, n)
	}
	for _, ch := range l.Children {
		sp := ServicePayment835{Loop: ch}
		var sc fields
		for _, seg := range ch.Segments {
			s := sc.split(seg)
			switch s.code {
			case cSVC:
				sp.Procedure = b.procedure(s, 1)
				b.reqComp(s, 1, 1)
				b.reqComp(s, 1, 2)
				sp.Charge, sp.Payment = b.amount(s, 2, true), b.amount(s, 3, true)
				sp.RevenueCode, sp.UnitsPaid, sp.OriginalUnits = s.Element(4), s.Element(5), s.Element(7)
				if s.Element(6) != "" {
					p := b.procedure(s, 6)
					sp.OriginalProcedure = &p
				}
				b.units(s, 5)
				b.units(s, 7)
			case cDTM:
				sp.Dates = append(sp.Dates, b.dtm(s))
			case cCAS:
				sp.Adjustments = b.cas(sp.Adjustments, s)
			case cREF:
				sp.Refs = append(sp.Refs, b.ref(s))
			case cAMT:
				sp.Amounts = append(sp.Amounts, b.amt(s))
			case cQTY:
				sp.Quantities = append(sp.Quantities, b.qty(s))
			case cLQ:
				sp.Remarks = append(sp.Remarks, Remark{Qualifier: b.req(s, 1), Code: b.req(s, 2)})
			}
		}
		c.Services = append(c.Services, sp)
	}
	return c
}
