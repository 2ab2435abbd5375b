// Package failpoint lets fault-injection tests crash a herald process at an
// exact point: between a consumer's database commit and its ack, or between
// the bus's ack and the outbox delete. Failpoints exist only in binaries
// built with -tags faults; in every other build Inject is an empty function
// the compiler removes.
//
// A faults build reads HERALD_FAILPOINTS, a comma-separated list of
// name=action[@n]: the action runs at the n-th time (default the first) the
// point is reached. Actions: "kill" (SIGKILL this process, as kill -9 does),
// "panic", "sleep:<duration>". InjectData points also take
// "panic-if:<text>", which panics every time the data contains text.
//
//	HERALD_FAILPOINTS=consumer-after-commit=kill@25 herald serve query
package failpoint

// The failpoints Herald's code reaches.
const (
	ConsumerBeforeCommit = "consumer-before-commit" // apply done, transaction not committed
	ConsumerAfterCommit  = "consumer-after-commit"  // committed, not yet acked
	RelayAfterAck        = "relay-after-ack"        // the bus acked an event, its outbox row not yet deleted
	HandlerData          = "handler"                // a consumer is about to handle a message (InjectData)
	RebuildAfterPause    = "rebuild-after-pause"    // a rebuild paused the live consumers, its last stretch not applied yet
)
