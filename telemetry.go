package fhirsync

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation is the name of the engine's meter and tracer.
const instrumentation = "github.com/fhirsync/fhirsync"

// instruments are the engine's metrics. Their attributes are PHI-free: an
// outcome, a stage, a resource type.
//
//   - fhirsync.messages.read: messages read from the source
//   - fhirsync.messages.settled{outcome=acked|nacked}: messages acked or nacked
//   - fhirsync.rejections{stage=read|convert|write}: rejections found
//   - fhirsync.resources.written{resource.type}: resources written
//   - fhirsync.resources.stale{resource.type}: resources the stale-update guard skipped
//   - fhirsync.write.retries: Sink.Write calls retried
//   - fhirsync.convert.retries: conversions retried (a terminology server or
//     claim lookup that could not answer); a message stuck here stalls the
//     messages behind it, so alert on a rate that does not fall
//   - fhirsync.convert.duration, fhirsync.write.duration (s): durations of
//     Convert and Sink.Write calls
type instruments struct {
	msgsRead    metric.Int64Counter
	msgsSettled metric.Int64Counter
	rejections  metric.Int64Counter
	resWritten  metric.Int64Counter
	resStale    metric.Int64Counter
	retries     metric.Int64Counter
	convRetries metric.Int64Counter
	convertDur  metric.Float64Histogram
	writeDur    metric.Float64Histogram
}

func newInstruments(mp metric.MeterProvider) *instruments {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentation)
	// Instrument creation fails only for invalid names; ours are constant
	// and valid, and a failed instrument is a no-op one.
	in := &instruments{}
	in.msgsRead, _ = m.Int64Counter("fhirsync.messages.read", metric.WithDescription("Messages read from the source."))
	in.msgsSettled, _ = m.Int64Counter("fhirsync.messages.settled", metric.WithDescription("Messages acked or nacked, by outcome."))
	in.rejections, _ = m.Int64Counter("fhirsync.rejections", metric.WithDescription("Rejections (dead letters) found, by stage."))
	in.resWritten, _ = m.Int64Counter("fhirsync.resources.written", metric.WithDescription("Resources written to the sink, by type."))
	in.resStale, _ = m.Int64Counter("fhirsync.resources.stale", metric.WithDescription("Resources skipped by the stale-update guard, by type."))
	in.retries, _ = m.Int64Counter("fhirsync.write.retries", metric.WithDescription("Sink writes retried."))
	in.convRetries, _ = m.Int64Counter("fhirsync.convert.retries", metric.WithDescription("Conversions retried."))
	in.convertDur, _ = m.Float64Histogram("fhirsync.convert.duration", metric.WithUnit("s"), metric.WithDescription("Duration of Convert calls."))
	in.writeDur, _ = m.Float64Histogram("fhirsync.write.duration", metric.WithUnit("s"), metric.WithDescription("Duration of Sink.Write calls."))
	return in
}

func (in *instruments) read(ctx context.Context) { in.msgsRead.Add(ctx, 1) }

func (in *instruments) settled(ctx context.Context, outcome string) {
	in.msgsSettled.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

func (in *instruments) rejected(ctx context.Context, stage Stage) {
	in.rejections.Add(ctx, 1, metric.WithAttributes(attribute.String("stage", string(stage))))
}

func (in *instruments) written(ctx context.Context, resourceType string) {
	in.resWritten.Add(ctx, 1, metric.WithAttributes(attribute.String("resource.type", resourceType)))
}

func (in *instruments) stale(ctx context.Context, resourceType string) {
	in.resStale.Add(ctx, 1, metric.WithAttributes(attribute.String("resource.type", resourceType)))
}

func (in *instruments) retry(ctx context.Context) { in.retries.Add(ctx, 1) }

func (in *instruments) convertRetry(ctx context.Context) { in.convRetries.Add(ctx, 1) }

func (in *instruments) convertTime(ctx context.Context, d time.Duration) {
	in.convertDur.Record(ctx, d.Seconds())
}

func (in *instruments) writeTime(ctx context.Context, d time.Duration) {
	in.writeDur.Record(ctx, d.Seconds())
}

func tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(instrumentation)
}
