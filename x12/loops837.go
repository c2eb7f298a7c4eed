package x12

// Loop tables of the 837 health care claim: professional (005010X222A1),
// institutional (005010X223A2) and dental (005010X224A2). The three share the
// envelope and hierarchical (HL) skeleton; they differ in the claim (2300),
// service line (2400) and provider loops. Qualifier values follow the TR3s as
// summarized in MAPPING.md §2.1–2.3.
//
// The record loop is 2300 (one claim and its subordinate loops). The loops above
// it — the header with 1000A/1000B, the billing provider (2000A), the subscriber
// (2000B) and the patient (2000C) — are context shared by the claims under them.

// loops837Common are the loops every 837 variant has above the claim.
func loops837Common(kind Kind, billingNM1 string) []loopSpec {
	return []loopSpec{
		{ID: headerLoop, Name: "Transaction Set Header", Lead: seg("ST"), Segs: "BHT SE"},
		{ID: "1000A", Name: "Submitter Name", Parent: headerLoop, Lead: q("NM1", "41"), Max: 1, Segs: "PER"},
		{ID: "1000B", Name: "Receiver Name", Parent: headerLoop, Lead: q("NM1", "40"), Max: 1},
		{ID: "2000A", Name: "Billing Provider Hierarchical Level", Parent: headerLoop, Lead: qe("HL", 3, "20"), Segs: "PRV CUR"},
		{ID: "2010AA", Name: "Billing Provider Name", Parent: "2000A", Lead: q("NM1", billingNM1), Max: 1, Segs: "N3 N4 REF PER"},
		{ID: "2010AB", Name: "Pay-to Address Name", Parent: "2000A", Lead: q("NM1", "87"), Max: 1, Segs: "N3 N4"},
		{ID: "2010AC", Name: "Pay-to Plan Name", Parent: "2000A", Lead: q("NM1", "PE"), Max: 1, Segs: "N3 N4 REF"},
		{ID: "2000B", Name: "Subscriber Hierarchical Level", Parent: "2000A", Lead: qe("HL", 3, "22"), Segs: "SBR PAT"},
		{ID: "2010BA", Name: "Subscriber Name", Parent: "2000B", Lead: q("NM1", "IL"), Max: 1, Segs: "N3 N4 DMG REF PER"},
		{ID: "2010BB", Name: "Payer Name", Parent: "2000B", Lead: q("NM1", "PR"), Max: 1, Segs: "N3 N4 REF"},
		{ID: "2000C", Name: "Patient Hierarchical Level", Parent: "2000B", Lead: qe("HL", 3, "23"), Segs: "PAT"},
		{ID: "2010CA", Name: "Patient Name", Parent: "2000C", Lead: q("NM1", "QC"), Max: 1, Segs: "N3 N4 DMG REF PER"},
		// The claim: a child of the subscriber when the subscriber is the patient,
		// of the patient otherwise.
		{ID: "2300", Name: "Claim Information", Parent: "2000B,2000C", Lead: seg("CLM"), Max: 100, Record: kind},
		{ID: "2320", Name: "Other Subscriber Information", Parent: "2300", Lead: seg("SBR"), Max: 10, Segs: "CAS AMT OI MIA MOA"},
		{ID: "2400", Name: "Service Line Number", Parent: "2300", Lead: seg("LX")},
		{ID: "2410", Name: "Drug Identification", Parent: "2400", Lead: seg("LIN"), Max: 1, Segs: "CTP REF"},
		{ID: "2430", Name: "Line Adjudication Information", Parent: "2400", Lead: seg("SVD"), Max: 15, Segs: "CAS DTP AMT"},
	}
}

// provider returns a provider name loop (2310x, 2330x, 2420x) led by NM1 with
// one of the given entity identifier codes.
func provider(id, name, parent string, max int, segs string, codes ...string) loopSpec {
	return loopSpec{ID: id, Name: name, Parent: parent, Lead: q("NM1", codes...), Max: max, Segs: segs}
}

const (
	segs2310 = "PRV REF N3 N4 PER"
	segs2330 = "N3 N4 REF DTP PER"
	segs2420 = "PRV REF N3 N4 PER"
)

// patch sets the non-leading segments and maximum repeat of loop id in specs.
func patch(specs []loopSpec, id, segs string, max int) []loopSpec {
	for i := range specs {
		if specs[i].ID == id {
			specs[i].Segs = segs
			if max > 0 {
				specs[i].Max = max
			}
			return specs
		}
	}
	panic("x12: patch: no loop " + id)
}

var table837P = &txTable{
	Name: "837P", ST01: "837", Conventions: []string{"005010X222A1", "005010X222A2"},
	Loops: func() []loopSpec {
		l := loops837Common(Kind837PClaim, "85")
		l = patch(l, "2300", "DTP PWK CN1 AMT REF K3 NTE CR1 CR2 CRC HI HCP", 0)
		l = patch(l, "2400", "SV1 SV5 PWK CR1 CR3 CRC DTP QTY MEA CN1 REF AMT K3 NTE PS1 HCP", 50)
		return append(l,
			provider("2310A", "Referring Provider Name", "2300", 2, segs2310, "DN", "P3"),
			provider("2310B", "Rendering Provider Name", "2300", 1, segs2310, "82"),
			provider("2310C", "Service Facility Location Name", "2300", 1, segs2310, "77"),
			provider("2310D", "Supervising Provider Name", "2300", 1, segs2310, "DQ"),
			provider("2310E", "Ambulance Pick-up Location", "2300", 1, segs2310, "PW"),
			provider("2310F", "Ambulance Drop-off Location", "2300", 1, segs2310, "45"),
			provider("2330A", "Other Subscriber Name", "2320", 1, segs2330, "IL"),
			provider("2330B", "Other Payer Name", "2320", 1, segs2330, "PR"),
			provider("2330C", "Other Payer Referring Provider", "2320", 2, segs2330, "DN", "P3"),
			provider("2330D", "Other Payer Rendering Provider", "2320", 1, segs2330, "82"),
			provider("2330E", "Other Payer Service Facility Location", "2320", 1, segs2330, "77"),
			provider("2330F", "Other Payer Supervising Provider", "2320", 1, segs2330, "DQ"),
			provider("2330G", "Other Payer Billing Provider", "2320", 1, segs2330, "85"),
			provider("2420A", "Rendering Provider Name", "2400", 1, segs2420, "82"),
			provider("2420B", "Purchased Service Provider Name", "2400", 1, segs2420, "QB"),
			provider("2420C", "Service Facility Location Name", "2400", 1, segs2420, "77"),
			provider("2420D", "Supervising Provider Name", "2400", 1, segs2420, "DQ"),
			provider("2420E", "Ordering Provider Name", "2400", 1, segs2420, "DK"),
			provider("2420F", "Referring Provider Name", "2400", 2, segs2420, "DN", "P3"),
			provider("2420G", "Ambulance Pick-up Location", "2400", 1, segs2420, "PW"),
			provider("2420H", "Ambulance Drop-off Location", "2400", 1, segs2420, "45"),
			loopSpec{ID: "2440", Name: "Form Identification Code", Parent: "2400", Lead: seg("LQ"), Segs: "FRM"},
		)
	}(),
}

var table837I = &txTable{
	Name: "837I", ST01: "837", Conventions: []string{"005010X223A2", "005010X223A3"},
	Loops: func() []loopSpec {
		l := loops837Common(Kind837IClaim, "85")
		l = patch(l, "2300", "DTP CL1 PWK CN1 AMT REF K3 NTE CRC HI HCP", 0)
		l = patch(l, "2400", "SV2 PWK DTP REF AMT NTE HCP", 999)
		return append(l,
			provider("2310A", "Attending Provider Name", "2300", 1, segs2310, "71"),
			provider("2310B", "Operating Physician Name", "2300", 1, segs2310, "72"),
			provider("2310C", "Other Operating Physician Name", "2300", 1, segs2310, "ZZ"),
			provider("2310D", "Rendering Provider Name", "2300", 1, segs2310, "82"),
			provider("2310E", "Service Facility Location Name", "2300", 1, segs2310, "77"),
			provider("2310F", "Referring Provider Name", "2300", 1, segs2310, "DN"),
			provider("2330A", "Other Subscriber Name", "2320", 1, segs2330, "IL"),
			provider("2330B", "Other Payer Name", "2320", 1, segs2330, "PR"),
			provider("2330C", "Other Payer Attending Provider", "2320", 1, segs2330, "71"),
			provider("2330D", "Other Payer Operating Physician", "2320", 1, segs2330, "72"),
			provider("2330E", "Other Payer Other Operating Physician", "2320", 1, segs2330, "ZZ"),
			provider("2330F", "Other Payer Service Facility Location", "2320", 1, segs2330, "77"),
			provider("2330G", "Other Payer Rendering Provider Name", "2320", 1, segs2330, "82"),
			provider("2330H", "Other Payer Referring Provider", "2320", 1, segs2330, "DN"),
			provider("2330I", "Other Payer Billing Provider", "2320", 1, segs2330, "85"),
			provider("2420A", "Operating Physician Name", "2400", 1, segs2420, "72"),
			provider("2420B", "Other Operating Physician Name", "2400", 1, segs2420, "ZZ"),
			provider("2420C", "Rendering Provider Name", "2400", 1, segs2420, "82"),
			provider("2420D", "Referring Provider Name", "2400", 1, segs2420, "DN"),
		)
	}(),
}

var table837D = &txTable{
	Name: "837D", ST01: "837", Conventions: []string{"005010X224A2", "005010X224A3"},
	Loops: func() []loopSpec {
		l := loops837Common(Kind837DClaim, "85")
		l = patch(l, "2300", "DTP DN1 DN2 PWK CN1 AMT REF K3 NTE CRC HI HCP", 0)
		l = patch(l, "2400", "SV3 TOO DTP QTY CN1 REF AMT K3 NTE HCP", 50)
		return append(l,
			provider("2310A", "Referring Provider Name", "2300", 2, segs2310, "DN", "P3"),
			provider("2310B", "Rendering Provider Name", "2300", 1, segs2310, "82"),
			provider("2310C", "Service Facility Location Name", "2300", 1, segs2310, "77"),
			provider("2310D", "Assistant Surgeon Name", "2300", 1, segs2310, "DD"),
			provider("2310E", "Supervising Provider Name", "2300", 1, segs2310, "DQ"),
			provider("2330A", "Other Subscriber Name", "2320", 1, segs2330, "IL"),
			provider("2330B", "Other Payer Name", "2320", 1, segs2330, "PR"),
			provider("2330C", "Other Payer Referring Provider", "2320", 2, segs2330, "DN", "P3"),
			provider("2330D", "Other Payer Rendering Provider", "2320", 1, segs2330, "82"),
			provider("2330E", "Other Payer Supervising Provider", "2320", 1, segs2330, "DQ"),
			provider("2330F", "Other Payer Billing Provider", "2320", 1, segs2330, "85"),
			provider("2330G", "Other Payer Service Facility Location", "2320", 1, segs2330, "77"),
			provider("2330H", "Other Payer Assistant Surgeon", "2320", 1, segs2330, "DD"),
			provider("2420A", "Rendering Provider Name", "2400", 1, segs2420, "82"),
			provider("2420B", "Assistant Surgeon Name", "2400", 1, segs2420, "DD"),
			provider("2420C", "Supervising Provider Name", "2400", 1, segs2420, "DQ"),
			provider("2420D", "Service Facility Location Name", "2400", 1, segs2420, "77"),
		)
	}(),
}

func init() {
	register(table837P, bind837)
	register(table837I, bind837)
	register(table837D, bind837)
}
