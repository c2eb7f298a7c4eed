package x12

// Loop table of the 835 health care claim payment/advice (005010X221A1),
// MAPPING.md §2.4.
//
// Records: every claim payment (loop 2100, CLP, with its 2110 service payments)
// is one record; the provider-level adjustments (PLB, table 3 "summary", loop id
// "SUMMARY" here because the TR3 gives it none) of a transaction set are one more
// record of their own, emitted when the PLB segments end. The header (BPR, TRN,
// REF, DTM), the payer (1000A), the payee (1000B) and the header number (2000,
// LX with TS3/TS2) are context shared by the records under them.

var table835 = &txTable{
	Name: "835", ST01: "835", Conventions: []string{"005010X221A1", "005010X221"},
	Loops: []loopSpec{
		{ID: headerLoop, Name: "Transaction Set Header", Lead: seg("ST"), Segs: "BPR TRN CUR REF DTM SE"},
		{ID: "1000A", Name: "Payer Identification", Parent: headerLoop, Lead: q("N1", "PR"), Max: 1, Segs: "N3 N4 REF PER"},
		{ID: "1000B", Name: "Payee Identification", Parent: headerLoop, Lead: q("N1", "PE"), Max: 1, Segs: "N3 N4 REF RDM"},
		{ID: "2000", Name: "Header Number", Parent: headerLoop, Lead: seg("LX"), Segs: "TS3 TS2"},
		// The TR3 nests 2100 under 2000; claim payments without an LX are
		// accepted directly under the header.
		{ID: "2100", Name: "Claim Payment Information", Parent: "2000," + headerLoop, Lead: seg("CLP"), Segs: "CAS NM1 MIA MOA REF DTM PER AMT QTY", Record: Kind835ClaimPayment},
		{ID: "2110", Name: "Service Payment Information", Parent: "2100", Lead: seg("SVC"), Max: 999, Segs: "DTM CAS REF AMT QTY LQ"},
		{ID: "SUMMARY", Name: "Provider Adjustment", Parent: headerLoop, Lead: seg("PLB"), Max: 1, Segs: "PLB", Record: Kind835ProviderAdjustment},
	},
}

func init() { register(table835, bind835) }
