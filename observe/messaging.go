package observe

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Attributes Herald adds to its messaging spans, beside OpenTelemetry's
// messaging semantic conventions.
const (
	// AttrOutcome is what a consumer's process span did with the event:
	// one of the Outcome values.
	AttrOutcome = attribute.Key("herald.outcome")
	// AttrAttempt is the delivery attempt a process span handled, from 1.
	AttrAttempt = attribute.Key("herald.attempt")
	// AttrStream and AttrSequence are the event's stream and position.
	AttrStream   = attribute.Key("herald.stream")
	AttrSequence = attribute.Key("herald.stream.sequence")
	// AttrConsumer is the durable consumer of a process span
	// (messaging.consumer.group.name).
	AttrConsumer = semconv.MessagingConsumerGroupNameKey
	// AttrMessageID is the event id (messaging.message.id).
	AttrMessageID = semconv.MessagingMessageIDKey
	// AttrDestination is the NATS subject (messaging.destination.name).
	AttrDestination = semconv.MessagingDestinationNameKey
	// AttrEventType is the event's CloudEvents type, where a span knows it.
	AttrEventType = attribute.Key("cloudevents.event_type")
)

// Outcomes of a consumer's process span (AttrOutcome).
const (
	OutcomeApplied      = "applied"       // the read model changed with the event
	OutcomeDuplicate    = "duplicate"     // seen before: skipped, acknowledged
	OutcomeRetried      = "retried"       // failed; delivered again after a backoff
	OutcomeDeadLettered = "dead-lettered" // failed its last attempt; in the DLQ
	OutcomeDelivered    = "delivered"     // pushed to a subscriber, who took it
)

// End ends span, first marking it failed with err if err is not nil. A
// nil span (a publish made without a tracer) is left alone.
func End(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

var natsSystem = semconv.MessagingSystemKey.String("nats")

// PublishAttrs are the attributes of the span that publishes event id on
// subject.
func PublishAttrs(subject, id string) []attribute.KeyValue {
	return []attribute.KeyValue{natsSystem, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("publish"),
		semconv.MessagingDestinationName(subject), semconv.MessagingMessageID(id)}
}

// ProcessAttrs are the attributes of the span in which consumer handles
// attempt of event id, delivered from position seq of stream on subject.
func ProcessAttrs(consumer, stream, subject, id string, seq uint64, attempt int) []attribute.KeyValue {
	return []attribute.KeyValue{natsSystem, semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(subject), semconv.MessagingMessageID(id),
		semconv.MessagingConsumerGroupName(consumer), AttrStream.String(stream),
		AttrSequence.Int64(int64(seq)), AttrAttempt.Int(attempt)}
}
