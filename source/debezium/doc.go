// Package debezium decodes Debezium change events: a format, not a
// transport. The events usually come from Kafka (source/kafkasource), one
// per message; [Decode] turns a message body into an [Event], and
// [ProviderConverter] maps the changes of a provider directory table to
// Plan-Net resources in one step:
//
//	conv := debezium.NewProviderConverter(providerMapper, nil) // a fhirmap.Converter
//
// Decode reads the JSON that Kafka Connect's JsonConverter writes, with the
// schema/payload wrapper (schemas.enable=true) or without it; every
// operation (c create, u update, d delete, r snapshot read, t truncate, m
// message); the before and after row images; the source block (connector,
// db, schema, table, lsn, txId, ts_ms and the connector's other positions);
// the transaction block; and tombstones (the null value that follows a
// delete, for log compaction).
//
// # Values
//
// Numbers never pass through float64. Without a schema, a row's numbers are
// json.Number values (their exact text). With the schema wrapper, values
// take the Go type of their Kafka Connect type: int8 to int64 → int64,
// float32 and float64 → json.Number, boolean → bool, string → string,
// bytes → []byte, struct → map[string]any, array → []any; and the logical
// types: Decimal (org.apache.kafka.connect.data.Decimal, Debezium's default
// decimal.handling.mode=precise) and io.debezium.data.VariableScaleDecimal
// → json.Number holding the exact decimal ("1234.50"); Date
// (io.debezium.time.Date, org.apache.kafka.connect.data.Date) → time.Time
// at UTC midnight; Timestamp, MicroTimestamp, NanoTimestamp and
// org.apache.kafka.connect.data.Timestamp → time.Time in UTC. Other logical
// types (ZonedTimestamp, times of day, Json, Uuid) keep their physical
// type. [DecodeOptions].IgnoreSchema keeps the plain JSON values instead.
//
// # Delivery
//
// The package does not read or acknowledge anything itself. Debezium
// delivers at least once, so an event may come twice: the source version
// (the Postgres LSN, else the Kafka offset) lets the FHIR writes be
// idempotent and never let an older change overwrite a newer one.
//
// # PHI
//
// Row images hold PHI. Errors ([*Error]) say what is wrong and where (a
// byte offset for malformed JSON, a JSON path such as
// "$.payload.after.npi" for a value of the wrong type) and never quote a
// value; the path names object keys (column names), never values. An
// [Event] logs (slog.LogValuer) its operation, table and position only.
//
// # As
//
// Nothing: the package decodes message bodies. The transport's native
// record (a *kgo.Record) stays available through the message's As.
package debezium
