// Package x12 reads ASC X12 005010 health care EDI: the 837 professional,
// institutional and dental claims, the 835 claim payment/advice and the 834
// benefit enrollment, one business record at a time, in memory bounded by one
// record.
//
// # Two layers
//
// The [Reader] is the segment layer. It reads interchanges (ISA/IEA),
// functional groups (GS/GE) and transaction sets (ST/SE) from an io.Reader,
// takes the delimiters from each ISA, checks the envelopes (counts and control
// numbers) and returns one [Segment] at a time: a view into its buffer, valid
// until the next Read, with lazy access to elements, components and
// repetitions. It feels like encoding/csv: exported fields configure it, Read
// returns io.EOF at the end.
//
// The [Decoder] is the business layer on top of it. It routes each transaction
// set by ST01 and ST03 (falling back to GS08) to a loop table, assigns every
// segment to its implementation-guide loop, and returns one [Record] at a time:
//
//	Kind                        Type                     Record loop
//	"837P claim"                *Claim837                2300 (005010X222A1, A2)
//	"837I claim"                *Claim837                2300 (005010X223A2, A3)
//	"837D claim"                *Claim837                2300 (005010X224A2)
//	"835 claim payment"         *ClaimPayment835         2100 (005010X221A1)
//	"835 provider adjustment"   *ProviderAdjustment835   PLB, once per transaction set
//	"834 member"                *Member834               2000 (005010X220A1)
//
//	d := x12.NewDecoder(file)
//	for rec, err := range d.Records() {
//		if err != nil {
//			// a *SyntaxError: log it (it holds no PHI), send the record to a
//			// reject path, and go on with the next record
//			continue
//		}
//		switch r := rec.(type) {
//		case *x12.Claim837: ...
//		}
//	}
//
// Each record comes with its context: a claim carries the transaction header
// (submitter, receiver), its billing provider (2000A/2010AA), subscriber and
// payer (2000B/2010BA/2010BB) and, when HL 23 is present, the patient
// (2000C/2010CA); a claim payment carries the payment header with the payer and
// payee; a member carries the sponsor, payer and brokers. Context parts are
// pointers shared by every record under the same loops: treat them as
// read-only.
//
// # Loop tables
//
// The loop structure is data: each supported implementation has a table of
// loops (id, name, leading segment and the qualifier values that identify it,
// parent loops, maximum repeat, the other segments it may hold, and which loop
// is the business record). One generic engine interprets every table: a
// segment belongs to the innermost open loop that lists it, or opens the child
// loop it leads, innermost first. The engine builds a generic loop tree
// ([Loop]) per record and per context, and per-transaction binders fill the
// typed structs from it. Supporting 270/271, 276/277 or 278 means adding a
// table and a binder.
//
// Typed records keep element values as raw text (strings, or [Amount] for
// decimal numbers); [ParseAmount], [ParseDate], [ParseDateRange],
// [ParseDateTime], [ParseTime] and [ParsePeriod] turn them into values, money
// as an exact decimal (github.com/shopspring/decimal), never a float. Nothing
// the implementation guide allows is lost when it is not typed: every typed
// part keeps its [Loop], whose Segments hold every segment of the loop.
//
// # Positions
//
// Every segment, record and error has a [Position]: the byte offset in the
// input, the segment's index within its transaction set (ST = 1), its id, its
// loop (set by the Decoder), the element and component an error is about, and
// the envelope control numbers (ISA13, GS06, ST02). A record's position is that
// of its leading segment (CLM, CLP, INS, the first PLB). An error about a
// missing segment or loop is positioned at the leading segment of the loop it
// is missing from, with SegmentID naming the missing segment (IK3 "3").
//
// # Errors
//
// Sentinel errors (ErrRequiredElement, ErrInvalidValue, ErrMissingSegment,
// ErrLoop, ErrContext, ErrSegmentCount...) say what went wrong; a
// [*SyntaxError] wrapping one says where, and carries the 999 acknowledgment
// codes (IK3 segment, IK4 element, IK5 transaction set) so that a 999 can be
// built from it. The Decoder checks what the FHIR mapping depends on: required
// segments and loops (CLM, HI with a principal diagnosis, SV1/SV2/SV3 on every
// line, DTP*472 on 837P lines, CLP, NM1*QC, INS, REF*0F, the name loops of the
// context...), required elements (CLM01, CLM02, CLP01–CLP04, INS01–INS03...),
// code values where the mapping switches on them (CLP02, INS01, CAS01), dates
// against their format qualifier and decimal numbers.
//
// One bad record never loses the file: a malformed claim, payment or member is
// reported once, as an error from Read, and the next Read goes on with the
// next record. A segment that fits no open loop spoils only the record it is
// in. An invalid context loop (a subscriber without its name loop, a header
// without BHT...) is reported once, and each record under it is then reported
// with ErrContext, so that no record disappears silently. Envelope findings of
// the Reader (wrong SE01, mismatched control numbers) are reported after the
// record they interrupt. After a fatal error (the input cannot be read further)
// Read returns it once, then io.EOF.
//
// # Lenient mode
//
// Decoder.Lenient (like Reader.Lenient) turns envelope findings into warnings
// passed to OnWarning (or kept, see Decoder.Warnings), and also segments that
// fit no loop (kept in the innermost open loop) and loops that repeat more than
// the guide allows. Checks the mapping depends on stay errors. TolerantISA
// reads ISA segments whose fixed-width fields are not padded.
//
// # PHI
//
// Records hold protected health information: names, member ids, birth dates,
// addresses, diagnoses. Error strings, positions, [Position.String] and the
// slog.LogValuer implementations of records, loops and segments never contain
// element values: they are safe to log. [SyntaxError.Diagnostics] may include
// the offending value and must be treated as PHI. Envelope headers hold only
// ids, control numbers, dates and versions. The package tests, and FuzzDecoder,
// check the error paths they reach with the canary value ZZCANARYZZ in names
// and malformed values.
//
// # Memory
//
// The Decoder holds one record at a time, and memory is bounded by one record
// in both of its modes: decoding a 500 MB file retains no more memory than
// decoding a 10 MB one (see TestDecoderMemoryBounded and
// BenchmarkDecoderPeakHeap). Limits keep memory bounded on hostile input:
// Reader.MaxSegmentLength per segment, Decoder.MaxRecordLength per record.
//
// By default records are independent: each one owns its memory and can be
// kept for as long as needed (a claim index keeps claims). The bytes of a
// record's segments are gathered in a scratch buffer and copied in one piece
// into a buffer the record owns; its segments are owned views into that
// buffer (NewOwnedSegment semantics), so element strings cost no allocation.
// Its Segments, Loops and typed parts (the claim, its lines, dates,
// references, providers...) are cut from a few arrays sized from the counts
// of the record's segments, about one allocation per kind of part. Context
// loops are built once and shared by the records under them.
//
// With Decoder.ReuseRecord, as with encoding/csv's Reader.ReuseRecord, the
// Decoder reuses the memory of a record for a later one, which makes
// steady-state decoding allocate almost nothing: a streaming converter
// (decode, map, forget) should set it. A record, and everything reached
// through its pointers and slices (typed parts, Loops, Segments slices), is
// then valid only until the next call to Read, or the next iteration of
// Records; the context parts it points to (Header, BillingProvider,
// Subscriber, Patient, the 835 and 834 headers) stay valid while records
// under them are returned and are reused once the context has changed and
// those records are released. Do not keep a *Claim837, a slice or a pointer
// of a record across Read: copy what you need. Copying a struct is shallow
// (its slices would still be reused). Values of string type (element values,
// Amount) and Segment values never change: the segment bytes are gathered in
// append-only chunks that are never written twice, so strings taken from a
// record stay valid and immutable (safe as map keys, or in messages sent
// later). The chunks are the only steady-state allocation: as many bytes as
// the input, one allocation per 64 KB; a string kept from a record keeps its
// chunk alive.
package x12
