package x12

// Loop table of the 834 benefit enrollment and maintenance (005010X220A1),
// MAPPING.md §2.5.
//
// The record loop is 2000 (one member, INS, with its names, disability,
// coverage, provider and coordination-of-benefits loops). The header (BGN, REF,
// DTP, QTY) with the sponsor (1000A), payer (1000B) and TPA/broker (1000C) loops
// is context shared by the members.

var table834 = &txTable{
	Name: "834", ST01: "834", Conventions: []string{"005010X220A1", "005010X220"},
	Loops: []loopSpec{
		{ID: headerLoop, Name: "Transaction Set Header", Lead: seg("ST"), Segs: "BGN REF DTP QTY SE"},
		{ID: "1000A", Name: "Sponsor Name", Parent: headerLoop, Lead: q("N1", "P5"), Max: 1},
		{ID: "1000B", Name: "Payer", Parent: headerLoop, Lead: q("N1", "IN"), Max: 1},
		{ID: "1000C", Name: "TPA/Broker Name", Parent: headerLoop, Lead: q("N1", "BO", "TV"), Max: 2},
		{ID: "1100C", Name: "TPA/Broker Account Information", Parent: "1000C", Lead: seg("ACT"), Max: 1},
		{ID: "2000", Name: "Member Level Detail", Parent: headerLoop, Lead: seg("INS"), Segs: "REF DTP LS LE", Record: Kind834Member},
		{ID: "2100A", Name: "Member Name", Parent: "2000", Lead: q("NM1", "IL", "74"), Max: 1, Segs: "PER N3 N4 DMG EC ICM AMT HLH LUI"},
		{ID: "2100B", Name: "Incorrect Member Name", Parent: "2000", Lead: q("NM1", "70"), Max: 1, Segs: "DMG"},
		{ID: "2100C", Name: "Member Mailing Address", Parent: "2000", Lead: q("NM1", "31"), Max: 1, Segs: "N3 N4"},
		{ID: "2100D", Name: "Member Employer", Parent: "2000", Lead: q("NM1", "36"), Max: 3, Segs: "PER N3 N4"},
		{ID: "2100E", Name: "Member School", Parent: "2000", Lead: q("NM1", "M8"), Max: 3, Segs: "PER N3 N4"},
		{ID: "2100F", Name: "Custodial Parent", Parent: "2000", Lead: q("NM1", "S3"), Max: 1, Segs: "PER N3 N4"},
		{ID: "2100G", Name: "Responsible Person", Parent: "2000", Max: 13, Segs: "PER N3 N4",
			Lead: q("NM1", "6Y", "9K", "E1", "EI", "EXS", "GB", "GD", "J6", "LR", "QD", "S1", "TZ", "X4")},
		{ID: "2100H", Name: "Drop Off Location", Parent: "2000", Lead: q("NM1", "45"), Max: 1, Segs: "N3 N4"},
		{ID: "2200", Name: "Disability Information", Parent: "2000", Lead: seg("DSB"), Segs: "DTP"},
		{ID: "2300", Name: "Health Coverage", Parent: "2000", Lead: seg("HD"), Max: 99, Segs: "DTP AMT REF IDC"},
		{ID: "2310", Name: "Provider Information", Parent: "2300", Lead: seg("LX"), Max: 30, Segs: "NM1 N3 N4 PER PLA"},
		{ID: "2320", Name: "Coordination of Benefits", Parent: "2300", Lead: seg("COB"), Max: 5, Segs: "REF DTP"},
		{ID: "2330", Name: "Coordination of Benefits Related Entity", Parent: "2320", Lead: q("NM1", "36", "GW", "IN"), Max: 3, Segs: "N3 N4 PER"},
		// LS*2700 ... LE*2700 wrap the reporting categories; LS and LE belong to 2000.
		{ID: "2700", Name: "Member Reporting Categories", Parent: "2000", Lead: seg("LX")},
		{ID: "2750", Name: "Reporting Category", Parent: "2700", Lead: q("N1", "75"), Max: 1, Segs: "REF DTP"},
	},
}

func init() { register(table834, bind834) }
