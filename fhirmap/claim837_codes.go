package fhirmap

// Codes of an 837 claim: procedures and modifiers, diagnoses and ICD
// procedures (HI), institutional codes (CL1, type of bill), supporting
// information, dental sites, and the translation of local codes.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	clpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/claim_go_proto"

	"github.com/fhirsync/fhirsync/terminology"
	"github.com/fhirsync/fhirsync/x12"
)

// withTranslation returns the coding followed by its translations into the
// standard systems configured for its system (Options.Translate), through
// the terminology.Mapper. A code without a translation gets a warning, or is
// an error when the translation is Required. A Mapper failure other than
// "no mapping" is returned as is (it may be retryable).
func (b *claim837) withTranslation(c *dtpb.Coding, pos x12.Position, element, component int, path string) ([]*dtpb.Coding, error) {
	if c == nil {
		return nil, nil
	}
	out := []*dtpb.Coding{c}
	sys := c.GetSystem().GetValue()
	for _, t := range b.m.opts.Translate {
		if t.From != sys {
			continue
		}
		got, err := b.m.tm.Translate(b.ctx, terminology.Coding{System: sys, Code: c.GetCode().GetValue()}, t.To)
		switch {
		case err == nil:
			if tc := codingFrom(got); tc != nil {
				out = append(out, tc)
			}
		case errNoMappingIs(err):
			if t.Required {
				return nil, b.errAt(ErrInvalidCode, pos, element, component, path, "local code has no translation into the required standard system").WithValue(c.GetCode().GetValue()).WithCause(err)
			}
			b.warn(pos, element, component, path, "no-translation", "local code has no translation into "+t.To)
		default:
			return nil, fmt.Errorf("fhirmap: %s: translating a local code at %s: %w", path, PositionOf(pos, 0), err)
		}
	}
	return out, nil
}

// procedureConcept maps a composite procedure identifier (SV101, SV202,
// SV301) to a CodeableConcept (MAPPING.md §3.3, §4.1–4.3): HC → CPT or HCPCS
// (the HCPCS system of the C4BB version, D2), AD → CDT, HP → HIPPS, N4 → NDC,
// other qualifiers → a local system (translated when configured). The
// description (-7) becomes the text.
func (b *claim837) procedureConcept(p *x12.Procedure, pos x12.Position, element int, path string) (*dtpb.CodeableConcept, error) {
	code := strings.TrimSpace(p.Code)
	if code == "" {
		return nil, b.errAt(ErrMissing, pos, element, 2, path, "procedure code missing")
	}
	q := strings.ToUpper(strings.TrimSpace(p.Qualifier))
	var cs []*dtpb.Coding
	bad := func(err error, what string) error {
		return b.errAt(ErrInvalidCode, pos, element, 2, path, "procedure code is not "+what).WithValue(code).WithCause(err)
	}
	switch q {
	case "HC":
		k, v, err := terminology.ClassifyHC(code)
		if err != nil {
			return nil, bad(err, "a CPT or HCPCS code")
		}
		cs = []*dtpb.Coding{coding(k.System(b.m.opts.C4BBVersion.HCPCSSystem()), v)}
	case "AD":
		v, err := terminology.NormalizeCDT(code)
		if err != nil {
			return nil, bad(err, "a CDT code")
		}
		cs = []*dtpb.Coding{coding(terminology.SystemCDT, v)}
	case "HP":
		cs = []*dtpb.Coding{coding(terminology.SystemHIPPS, strings.ToUpper(code))}
	case "N4":
		v, err := terminology.NormalizeNDC11(code)
		if err != nil {
			return nil, bad(err, "an 11-digit NDC")
		}
		cs = []*dtpb.Coding{coding(terminology.SystemNDC, v)}
	default:
		var err error
		if cs, err = b.withTranslation(coding(b.m.LocalSystem(q), code), pos, element, 2, path); err != nil {
			return nil, err
		}
	}
	cc := concepts(cs...)
	if cc == nil {
		return nil, b.errAt(ErrMissing, pos, element, 2, path, "procedure code missing")
	}
	cc.Text = fstr(strings.TrimSpace(p.Description))
	return cc, nil
}

// modifiers maps procedure modifiers (-3 to -6) to CPT or HCPCS codings
// (MAPPING.md §3.3: two digits → CPT, otherwise HCPCS).
func (b *claim837) modifiers(ms []string, pos x12.Position, element int, path string) ([]*dtpb.CodeableConcept, error) {
	var out []*dtpb.CodeableConcept
	for k, m := range ms {
		if strings.TrimSpace(m) == "" {
			continue
		}
		kind, v, err := terminology.ClassifyModifier(m)
		if err != nil {
			return nil, b.errAt(ErrInvalidCode, pos, element, 3+k, path, "procedure modifier is not a CPT or HCPCS modifier").WithValue(m).WithCause(err)
		}
		out = append(out, concept(kind.System(b.m.opts.C4BBVersion.HCPCSSystem()), v))
	}
	return out, nil
}

// hiPositions returns the position of each HI composite of the claim, in the
// order of Claim837.Codes, with Element set to the composite's position.
func hiPositions(c *x12.Claim837) []x12.Position {
	var out []x12.Position
	if l := c.Loop(); l != nil {
		for _, s := range l.Segments {
			if s.ID() != "HI" {
				continue
			}
			for e := 1; e <= 12; e++ {
				if s.Component(e, 2) == "" {
					continue
				}
				p := s.Pos()
				p.Element = e
				out = append(out, p)
			}
		}
	}
	if len(out) != len(c.Codes) {
		return nil
	}
	return out
}

// codePos returns the position of HI composite i (component 2 = the code).
func (b *claim837) codePos(i int) (x12.Position, int, int) {
	if i < len(b.hiPos) {
		return b.hiPos[i], b.hiPos[i].Element, 2
	}
	return b.c.Pos(), 0, 0
}

// icdDiagnosis returns the coding of an HI diagnosis code: ICD-10-CM for the
// A-qualifiers (ABK, ABF, ABJ, ABN, APR), ICD-9-CM for the others (BK, BF,
// BJ, BN, PR), dotted per MAPPING.md §3.3.
func icdDiagnosis(h x12.HealthCareCode) (*dtpb.Coding, error) {
	if strings.HasPrefix(strings.ToUpper(h.Qualifier), "A") {
		v, err := terminology.NormalizeICD10CM(h.Code)
		if err != nil {
			return nil, err
		}
		return coding(terminology.SystemICD10CM, v), nil
	}
	v, err := terminology.NormalizeICD9CM(h.Code)
	if err != nil {
		return nil, err
	}
	return coding(terminology.SystemICD9CM, v), nil
}

// diagnosisType returns the Claim.diagnosis type of an HI qualifier for the
// claim variant (MAPPING.md §4.1, §4.2), or "" when the qualifier is not a
// diagnosis.
func diagnosisType(kind x12.Kind, q string) (system, code string) {
	switch strings.ToUpper(q) {
	case "ABK", "BK":
		return terminology.SystemDiagnosisType, "principal"
	case "ABF", "BF":
		if kind == x12.Kind837IClaim {
			return systemC4BBDiagnosisType, "other"
		}
		return systemC4BBDiagnosisType, "secondary"
	case "ABJ", "BJ":
		return terminology.SystemDiagnosisType, "admitting"
	case "ABN", "BN":
		return systemC4BBDiagnosisType, "externalcauseofinjury"
	case "APR", "PR":
		return systemC4BBDiagnosisType, "patientreasonforvisit"
	}
	return "", ""
}

// diagnoses builds Claim.diagnosis: first the principal and other diagnoses
// in HI order, so that diagnosis pointers n (SV107, SV311) are sequences n
// (MAPPING.md §4.1), then (837I) the admitting, external cause and
// reason-for-visit codes.
func (b *claim837) diagnoses() error {
	c := b.c
	add := func(i int, h x12.HealthCareCode) error {
		sys, code := diagnosisType(b.kind, h.Qualifier)
		pos, el, comp := b.codePos(i)
		path := "Claim.diagnosis[" + strconv.Itoa(len(b.claim.Diagnosis)) + "]"
		cd, err := icdDiagnosis(h)
		if err != nil {
			return b.errAt(ErrInvalidCode, pos, el, comp, path+".diagnosisCodeableConcept", "diagnosis code is not an ICD-10-CM or ICD-9-CM code").WithValue(h.Code).WithCause(err)
		}
		d := &clpb.Claim_Diagnosis{
			Sequence:  fpos(len(b.claim.Diagnosis) + 1),
			Diagnosis: &clpb.Claim_Diagnosis_DiagnosisX{Choice: &clpb.Claim_Diagnosis_DiagnosisX_CodeableConcept{CodeableConcept: concepts(cd)}},
			Type:      []*dtpb.CodeableConcept{concept(sys, code)},
		}
		if poa := strings.ToUpper(strings.TrimSpace(h.PresentOnAdmission)); poa != "" {
			switch poa {
			case "Y", "N", "U", "W", "1":
				d.OnAdmission = concept(terminology.SystemPresentOnAdmission, poa)
			default:
				return b.errAt(ErrInvalidCode, pos, el, 9, path+".onAdmission", "present on admission indicator is not Y, N, U, W or 1").WithValue(h.PresentOnAdmission)
			}
		}
		b.claim.Diagnosis = append(b.claim.Diagnosis, d)
		return nil
	}
	for i, h := range c.Codes {
		if h.IsDiagnosis() {
			if err := add(i, h); err != nil {
				return err
			}
		}
	}
	for i, h := range c.Codes {
		if h.IsDiagnosis() {
			continue
		}
		if sys, _ := diagnosisType(b.kind, h.Qualifier); sys != "" {
			if err := add(i, h); err != nil {
				return err
			}
		}
	}
	return nil
}

// procedures builds Claim.procedure from HI procedure codes: ICD-10-PCS
// (BBR principal, BBQ other), ICD-9-CM volume 3 (BR, BQ) and, on 837P,
// HCPCS/CPT anesthesia-related procedures (BP principal, BO other); the
// date is HIxx-4 (MAPPING.md §4.1, §4.2).
func (b *claim837) procedures() error {
	for i, h := range b.c.Codes {
		q := strings.ToUpper(strings.TrimSpace(h.Qualifier))
		typ := "other"
		var cd *dtpb.Coding
		var err error
		switch q {
		case "BBR", "BR", "BP", "CAH":
			typ = "principal"
		case "BBQ", "BQ", "BO":
		default:
			continue
		}
		pos, el, comp := b.codePos(i)
		if strings.TrimSpace(h.Code) == "" {
			return b.errAt(ErrMissing, pos, el, 2, "Claim.procedure", "HI procedure without a code")
		}
		path := "Claim.procedure[" + strconv.Itoa(len(b.claim.Procedure)) + "]"
		switch q {
		case "BBR", "BBQ":
			var v string
			if v, err = terminology.NormalizeICD10PCS(h.Code); err == nil {
				cd = coding(terminology.SystemICD10PCS, v)
			}
		case "BR", "BQ":
			var v string
			if v, err = terminology.NormalizeICD9Procedure(h.Code); err == nil {
				cd = coding(b.m.opts.C4BBVersion.ICD9ProcedureSystem(), v)
			}
		case "BP", "BO":
			var k terminology.ProcedureKind
			var v string
			if k, v, err = terminology.ClassifyHC(h.Code); err == nil {
				cd = coding(k.System(b.m.opts.C4BBVersion.HCPCSSystem()), v)
			}
		default: // CAH: advanced billing concepts, no public system
			var cs []*dtpb.Coding
			if cs, err = b.withTranslation(coding(b.m.LocalSystem("HI-"+q), strings.TrimSpace(h.Code)), pos, el, comp, path); err != nil {
				return err
			}
			cd = cs[0]
			err = nil
		}
		if err != nil {
			return b.errAt(ErrInvalidCode, pos, el, comp, path+".procedureCodeableConcept", "procedure code does not fit its HI qualifier's code system").WithValue(h.Code).WithCause(err)
		}
		pr := &clpb.Claim_Procedure{
			Sequence:  fpos(len(b.claim.Procedure) + 1),
			Type:      []*dtpb.CodeableConcept{concept(systemC4BBProcedureType, typ)},
			Procedure: &clpb.Claim_Procedure_ProcedureX{Choice: &clpb.Claim_Procedure_ProcedureX_CodeableConcept{CodeableConcept: concepts(cd)}},
		}
		if h.Date != "" {
			p, err := x12.ParsePeriod(h.DateFormat, h.Date)
			if err != nil {
				return b.errAt(ErrInvalidValue, pos, el, 4, path+".date", "procedure date does not fit its format qualifier").WithCause(err)
			}
			pr.Date = fdateTimeDay(p.Start)
		}
		b.claim.Procedure = append(b.claim.Procedure, pr)
	}
	return nil
}

// instInfo is what an 837I says about the stay.
type instInfo struct {
	tob           terminology.TypeOfBill
	inpatient     bool
	statement     x12.Period // DTP*434
	admission     x12.Period // DTP*435 (D8 or DT)
	discharge     *dtpb.CodeableConcept
	dischargeTime time.Duration // DTP*096 TM
	hasDischarge  bool
	stillPatient  bool // CL103 = 30
	pointOfOrigin *dtpb.CodeableConcept
	admType       *dtpb.CodeableConcept
}

// institutional reads the type of bill, statement and admission dates and
// CL1 of an 837I (MAPPING.md §4.2).
func (b *claim837) institutional() (*instInfo, error) {
	c := b.c
	ii := &instInfo{}
	tob, err := terminology.TypeOfBillFromParts(c.FacilityCode, c.FrequencyCode)
	if err != nil {
		return nil, b.errAt(ErrInvalidCode, c.Pos(), 5, 1, "Claim.subType", "CLM05-1 and CLM05-3 do not form a type of bill").WithValue(c.FacilityCode + c.FrequencyCode).WithCause(err)
	}
	ii.tob, ii.inpatient = tob, tob.IsInpatient()
	d, ok := c.Dates.Get("434")
	if !ok {
		return nil, b.errAt(ErrMissing, c.Pos(), 0, 0, "Claim.billablePeriod", "837I claim without DTP*434 statement dates")
	}
	if ii.statement, err = d.Period(); err != nil {
		return nil, b.errAt(ErrInvalidValue, c.Pos(), 3, 0, "Claim.billablePeriod", "DTP*434 is not a date range").WithCause(err)
	}
	if d, ok := c.Dates.Get("435"); ok {
		if ii.admission, err = d.Period(); err != nil {
			return nil, b.errAt(ErrInvalidValue, c.Pos(), 3, 0, "Claim.supportingInfo", "DTP*435 is not a date or date-time").WithCause(err)
		}
	}
	if d, ok := c.Dates.Get("096"); ok {
		p, err := d.Period()
		if err != nil {
			return nil, b.errAt(ErrInvalidValue, c.Pos(), 3, 0, "Claim.supportingInfo", "DTP*096 is not a time").WithCause(err)
		}
		ii.dischargeTime, ii.hasDischarge = p.TimeOfDay, p.IsTime
	}
	if cl1 := c.Institutional; cl1 != nil {
		cpos := segPos(c.Loop(), "CL1", c.Pos())
		newborn := false
		if v := strings.TrimSpace(cl1.AdmissionType); v != "" {
			n, err := terminology.NormalizePriorityOfAdmission(v)
			if err != nil {
				return nil, b.errAt(ErrInvalidCode, cpos, 1, 0, "Claim.supportingInfo", "CL101 is not a NUBC priority of admission").WithValue(v).WithCause(err)
			}
			ii.admType = concept(terminology.SystemNUBCPriorityOfAdmission, n)
			newborn = n == "4"
		}
		if v := strings.TrimSpace(cl1.AdmissionSource); v != "" {
			n, err := terminology.NormalizePointOfOrigin(v)
			if err != nil {
				return nil, b.errAt(ErrInvalidCode, cpos, 2, 0, "Claim.supportingInfo", "CL102 is not a NUBC point of origin").WithValue(v).WithCause(err)
			}
			sys := terminology.SystemNUBCPointOfOrigin
			if newborn {
				sys = terminology.SystemNUBCPointOfOriginNewborn
			}
			ii.pointOfOrigin = concept(sys, n)
		}
		if v := strings.TrimSpace(cl1.PatientStatus); v != "" {
			n, err := terminology.NormalizeDischargeStatus(v)
			if err != nil {
				return nil, b.errAt(ErrInvalidCode, cpos, 3, 0, "Claim.supportingInfo", "CL103 is not a NUBC patient discharge status").WithValue(v).WithCause(err)
			}
			ii.discharge = concept(terminology.SystemNUBCDischargeStatus, n)
			ii.stillPatient = n == "30"
		}
	}
	return ii, nil
}

// admissionPeriod returns the stay: from the admission date (and hour, when
// a zone is configured) to the statement's through date (and discharge
// hour), open-ended while the patient is still a patient (CL103 = 30),
// MAPPING.md §4.2 [design].
func (ii *instInfo) admissionPeriod(loc *time.Location) *dtpb.Period {
	if ii.admission.Start.IsZero() {
		return nil
	}
	var start, end *dtpb.DateTime
	if ii.admission.HasTime && loc != nil {
		start = fdateTimeIn(ii.admission.Start, loc)
	} else {
		start = fdateTimeDay(ii.admission.Start)
	}
	if !ii.stillPatient && !ii.statement.End.IsZero() {
		if ii.hasDischarge && loc != nil {
			end = fdateTimeIn(ii.statement.End.Add(ii.dischargeTime.Truncate(time.Second)), loc)
		} else {
			end = fdateTimeDay(ii.statement.End)
		}
	}
	return fperiod(start, end)
}

// encounterPeriod is the admission period, else the statement period.
func (ii *instInfo) encounterPeriod(loc *time.Location) *dtpb.Period {
	if p := ii.admissionPeriod(loc); p != nil {
		return p
	}
	return datePeriod(ii.statement.Start, ii.statement.End)
}

// addInfo appends a supportingInfo entry and returns its sequence.
func (b *claim837) addInfo(category *dtpb.Coding, code *dtpb.CodeableConcept, timing *clpb.Claim_SupportingInformation_TimingX, value *clpb.Claim_SupportingInformation_ValueX) int {
	seq := len(b.claim.SupportingInfo) + 1
	b.claim.SupportingInfo = append(b.claim.SupportingInfo, &clpb.Claim_SupportingInformation{
		Sequence: fpos(seq),
		Category: concepts(category),
		Code:     code,
		Timing:   timing,
		Value:    value,
	})
	return seq
}

func stringValue(s string) *clpb.Claim_SupportingInformation_ValueX {
	if s == "" {
		return nil
	}
	return &clpb.Claim_SupportingInformation_ValueX{Choice: &clpb.Claim_SupportingInformation_ValueX_StringValue{StringValue: fstr(s)}}
}

func boolValue(v bool) *clpb.Claim_SupportingInformation_ValueX {
	return &clpb.Claim_SupportingInformation_ValueX{Choice: &clpb.Claim_SupportingInformation_ValueX_Boolean{Boolean: fbool(v)}}
}

func quantityValue(q *dtpb.SimpleQuantity) *clpb.Claim_SupportingInformation_ValueX {
	if q == nil {
		return nil
	}
	return &clpb.Claim_SupportingInformation_ValueX{Choice: &clpb.Claim_SupportingInformation_ValueX_Quantity{Quantity: &dtpb.Quantity{
		Value: q.Value, Unit: q.Unit, System: q.System, Code: q.Code,
	}}}
}

func referenceValue(r *dtpb.Reference) *clpb.Claim_SupportingInformation_ValueX {
	return &clpb.Claim_SupportingInformation_ValueX{Choice: &clpb.Claim_SupportingInformation_ValueX_Reference{Reference: r}}
}

func timingDate(t time.Time) *clpb.Claim_SupportingInformation_TimingX {
	if t.IsZero() {
		return nil
	}
	return &clpb.Claim_SupportingInformation_TimingX{Choice: &clpb.Claim_SupportingInformation_TimingX_Date{Date: fdate(t)}}
}

func timingPeriod(p *dtpb.Period) *clpb.Claim_SupportingInformation_TimingX {
	if p == nil {
		return nil
	}
	return &clpb.Claim_SupportingInformation_TimingX{Choice: &clpb.Claim_SupportingInformation_TimingX_Period{Period: p}}
}

// addressText writes an address on one line, for the C4BB pick-up and
// drop-off slices (valueString).
func addressText(a *x12.Address) string {
	if a == nil {
		return ""
	}
	var parts []string
	for _, s := range []string{a.Line1, a.Line2, a.City} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	tail := strings.TrimSpace(strings.TrimSpace(a.State) + " " + postalCode(a.PostalCode))
	if tail != "" {
		parts = append(parts, tail)
	}
	if s := strings.TrimSpace(a.Country); s != "" {
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// info returns a claiminformationcategory coding (base R4 Claim).
func info(code string) *dtpb.Coding { return coding(terminology.SystemClaimInformationCategory, code) }

// c4bbInfo returns a C4BBSupportingInfoType coding.
func c4bbInfo(code string) *dtpb.Coding { return coding(systemC4BBSupportingInfo, code) }

// supportingInfo builds Claim.supportingInfo (MAPPING.md §4.1–§4.3). Where
// C4BB defines an ExplanationOfBenefit supportingInfo slice for the fact
// (admission period, type of bill, point of origin, admission type,
// discharge status, DRG, medical record number, service facility, patient
// weight and the ambulance slices, orthodontics, missing teeth) its
// C4BBSupportingInfoType category is used, so that an EOB can carry the
// entry over as is; other facts use the base claiminformationcategory codes
// (onset, hospitalized, attachment, info).
func (b *claim837) supportingInfo(ii *instInfo) error {
	c := b.c
	if ii != nil {
		if p := ii.admissionPeriod(b.m.opts.TimeZone); p != nil {
			b.addInfo(c4bbInfo("admissionperiod"), nil, timingPeriod(p), nil)
		}
		b.addInfo(c4bbInfo("typeofbill"), concept(terminology.SystemNUBCTypeOfBill, ii.tob.String()), nil, nil)
		if ii.pointOfOrigin != nil {
			b.addInfo(c4bbInfo("pointoforigin"), ii.pointOfOrigin, nil, nil)
		}
		if ii.admType != nil {
			b.addInfo(c4bbInfo("admtype"), ii.admType, nil, nil)
		}
		if ii.discharge != nil {
			b.addInfo(c4bbInfo("discharge-status"), ii.discharge, nil, nil)
		}
	}
	// HI codes that are neither diagnoses nor procedures (837I): DRG,
	// condition, occurrence, occurrence span, value and treatment codes.
	for i, h := range c.Codes {
		q := strings.ToUpper(strings.TrimSpace(h.Qualifier))
		code := strings.TrimSpace(h.Code)
		pos, el, comp := b.codePos(i)
		path := "Claim.supportingInfo"
		switch q {
		case "DR":
			b.addInfo(c4bbInfo("drg"), concept(terminology.SystemMSDRG, code), nil, nil)
		case "BG", "BH", "BI", "BE", "TC":
			// No public FHIR code system for NUBC condition, occurrence and value
			// codes is confirmed: local systems, translated when configured.
			cs, err := b.withTranslation(coding(b.m.LocalSystem("HI-"+q), code), pos, el, comp, path)
			if err != nil {
				return err
			}
			var timing *clpb.Claim_SupportingInformation_TimingX
			if h.Date != "" {
				p, err := x12.ParsePeriod(h.DateFormat, h.Date)
				if err != nil {
					return b.errAt(ErrInvalidValue, pos, el, 4, path, "HI date does not fit its format qualifier").WithCause(err)
				}
				if p.IsRange() {
					timing = timingPeriod(datePeriod(p.Start, p.End))
				} else {
					timing = timingDate(p.Start)
				}
			}
			var value *clpb.Claim_SupportingInformation_ValueX
			if h.Amount != "" {
				value = quantityValue(quantity(string(h.Amount), "", ""))
			} else if h.Quantity != "" {
				value = quantityValue(quantity(h.Quantity, "", ""))
			}
			b.addInfo(info("info"), concepts(cs...), timing, value)
		}
	}
	if d, ok := c.Dates.Get("431"); ok {
		if p, err := d.Period(); err == nil {
			b.addInfo(info("onset"), nil, timingDate(p.Start), nil)
		}
	}
	if b.kind != x12.Kind837IClaim {
		// 837P/D: dates of a related hospitalization.
		a, okA := c.Dates.Get("435")
		d, okD := c.Dates.Get("096")
		if okA || okD {
			var start, end time.Time
			if okA {
				if p, err := a.Period(); err == nil {
					start = p.Start
				}
			}
			if okD {
				if p, err := d.Period(); err == nil {
					end = p.End
				}
			}
			if p := datePeriod(start, end); p != nil {
				b.addInfo(info("hospitalized"), nil, timingPeriod(p), nil)
			}
		}
	}
	for _, pw := range c.Attachments {
		if strings.TrimSpace(pw.ReportType) == "" {
			continue
		}
		b.addInfo(info("attachment"), concept(terminology.X12CodeSystem("755"), strings.TrimSpace(pw.ReportType)), nil, stringValue(strings.TrimSpace(pw.ID)))
	}
	if v, ok := c.Refs.Get("EA"); ok && strings.TrimSpace(v) != "" {
		b.addInfo(c4bbInfo("medicalrecordnumber"), nil, nil, stringValue(strings.TrimSpace(v)))
	}
	if b.facilityOrgID != "" && b.kind != x12.Kind837IClaim {
		b.addInfo(c4bbInfo("servicefacility"), nil, nil, referenceValue(reference("Organization", b.facilityOrgID)))
	}
	for _, crc := range c.Conditions {
		var cs []*dtpb.Coding
		for _, cond := range crc.Conditions {
			if cond = strings.TrimSpace(cond); cond != "" {
				cs = append(cs, coding(terminology.X12CodeSystem("1321"), cond))
			}
		}
		if len(cs) == 0 {
			continue
		}
		b.addInfo(info("info"), concepts(cs...), nil, boolValue(strings.EqualFold(strings.TrimSpace(crc.Applies), "Y")))
	}
	b.transport()
	if b.kind == x12.Kind837DClaim {
		b.dentalInfo()
	}
	return nil
}

// transport adds the C4BB transportation slices of an ambulance claim
// (MAPPING.md §4.4, D18 [verify CR1 positions]): patient weight (CR102, or
// PAT08), transport reason (CR104), distance (CR106), round-trip and
// stretcher purposes (CR109, CR110), pick-up and drop-off locations
// (2310E/F). Every item refers to them (C4BB requires it of the EOB:
// EOB-prof-all-transportation-supportinginfo-linked-to-line).
func (b *claim837) transport() {
	c := b.c
	add := func(seq int) { b.transportSeq = append(b.transportSeq, seq) }
	weighed := false
	if cr := c.Ambulance; cr != nil {
		if w := strings.TrimSpace(cr.Weight); w != "" {
			if q := quantity(w, "pound", "[lb_av]"); q != nil {
				add(b.addInfo(c4bbInfo("patientweight"), nil, nil, quantityValue(q)))
				weighed = true
			}
		}
		if r := strings.TrimSpace(cr.Reason); r != "" {
			add(b.addInfo(c4bbInfo("ambulancetransportreason"), concept(terminology.SystemX12AmbulanceTransportReason, r), nil, nil))
		}
		if d := strings.TrimSpace(cr.Distance); d != "" {
			if q := quantity(d, "mile", "[mi_i]"); q != nil {
				add(b.addInfo(c4bbInfo("transportationdistance"), nil, nil, quantityValue(q)))
			}
		}
		if s := strings.TrimSpace(cr.RoundTripPurpose); s != "" {
			add(b.addInfo(c4bbInfo("roudtrippurpose"), nil, nil, stringValue(s)))
		}
		if s := strings.TrimSpace(cr.StretcherPurpose); s != "" {
			add(b.addInfo(c4bbInfo("stretcherpurpose"), nil, nil, stringValue(s)))
		}
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		cat := ""
		switch strings.ToUpper(strings.TrimSpace(p.Code)) {
		case "PW":
			cat = "pickuplocation"
		case "45":
			cat = "dropofflocation"
		default:
			continue
		}
		if s := addressText(p.Address); s != "" {
			add(b.addInfo(c4bbInfo(cat), nil, nil, stringValue(s)))
		}
	}
	// PAT07/PAT08 patient weight (pounds) when CR1 gave none. It is a C4BB
	// transportation slice like CR102, so the items refer to it too.
	info := c.Subscriber.PatientInfo
	if c.Patient != nil {
		info = &c.Patient.PatientInfo
	}
	if !weighed && info != nil && strings.TrimSpace(info.Weight) != "" && strings.TrimSpace(info.WeightUnit) == "01" {
		if q := quantity(info.Weight, "pound", "[lb_av]"); q != nil {
			add(b.addInfo(c4bbInfo("patientweight"), nil, nil, quantityValue(q)))
		}
	}
}

// dentalInfo adds the claim-level dental slices: orthodontics (DN1 with
// DTP*452 appliance placement) and missing teeth (DN2 status M).
func (b *claim837) dentalInfo() {
	c := b.c
	if o := c.Orthodontics; o != nil && strings.TrimSpace(o.TotalMonths) != "" {
		var placed time.Time
		if d, ok := c.Dates.Get("452"); ok {
			if p, err := d.Period(); err == nil {
				placed = p.Start
			}
		}
		b.addInfo(c4bbInfo("orthodontics"), nil, timingDate(placed), quantityValue(quantity(o.TotalMonths, "month", "mo")))
	}
	for _, t := range c.ToothStatus {
		if strings.EqualFold(strings.TrimSpace(t.Status), "M") && strings.TrimSpace(t.Tooth) != "" {
			b.addInfo(c4bbInfo("missingtoothnumber"), concept(terminology.SystemADAToothDesignation, strings.TrimSpace(t.Tooth)), nil, nil)
		}
	}
}

// dentalSites sets a dental line's body site and sub-sites (MAPPING.md
// §4.3): the first tooth (TOO02) is the body site and its surfaces (TOO03)
// the sub-sites; further teeth, and oral cavity areas (SV304) beyond the
// body site, become additionalbodysite supporting information the line
// refers to; a prosthesis code (SV305) becomes prosthesis information.
func (b *claim837) dentalSites(ln *x12.ServiceLine837, it *clpb.Claim_Item, sp x12.Position, path string) error {
	sv := ln.Dental
	ref := func(seq int) { it.InformationSequence = append(it.InformationSequence, fpos(seq)) }
	for k, t := range ln.Teeth {
		tooth := strings.TrimSpace(t.Tooth)
		if tooth == "" {
			continue
		}
		if q := strings.ToUpper(strings.TrimSpace(t.CodeQualifier)); q != "" && q != "JP" {
			b.warn(segPos(ln.Loop, "TOO", sp), 1, 0, path+".bodySite", "tooth-system", "TOO01 is not JP (universal tooth designation): tooth left out")
			continue
		}
		if it.BodySite == nil {
			it.BodySite = concept(terminology.SystemADAToothDesignation, tooth)
			for _, s := range t.Surfaces {
				if s = strings.ToUpper(strings.TrimSpace(s)); s != "" {
					it.SubSite = append(it.SubSite, concept(terminology.SystemADAToothSurface, s))
				}
			}
			continue
		}
		if len(t.Surfaces) > 0 {
			b.warn(segPos(ln.Loop, "TOO", sp), 3, 0, path, "extra-tooth-surfaces", "surfaces of a tooth after the first have no place on the item: left out")
		}
		_ = k
		ref(b.addInfo(c4bbInfo("additionalbodysite"), concept(terminology.SystemADAToothDesignation, tooth), nil, nil))
	}
	for _, a := range sv.OralCavity {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if it.BodySite == nil {
			it.BodySite = concept(terminology.SystemADAAreaOralCavity, a)
			continue
		}
		ref(b.addInfo(c4bbInfo("additionalbodysite"), concept(terminology.SystemADAAreaOralCavity, a), nil, nil))
	}
	if p := strings.ToUpper(strings.TrimSpace(sv.Prosthesis)); p != "" {
		var prior time.Time
		if d, ok := ln.Dates.Get("441"); ok {
			if per, err := d.Period(); err == nil {
				prior = per.Start
			}
		}
		switch p {
		case "I", "R":
			ref(b.addInfo(c4bbInfo("prosthesis"), nil, timingDate(prior), boolValue(p == "R")))
		default:
			return b.errAt(ErrInvalidCode, sp, 5, 0, path, "SV305 is not I (initial) or R (replacement)").WithValue(sv.Prosthesis)
		}
	}
	return nil
}
