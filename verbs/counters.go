package verbs

import (
	"sort"
	"sync"
)

// Counters are a provider's process-wide data-path byte counts, across
// every queue pair in the process, whichever side it is on.
type Counters struct {
	// WriteBytesPlaced: bytes inbound RDMA Writes placed into this
	// process's registered memory (at a brick: bytes clients wrote).
	WriteBytesPlaced uint64
	// ReadBytesServed: bytes sent from registered memory to answer
	// inbound RDMA Reads (at a brick: bytes clients read).
	ReadBytesServed uint64
}

// CounterSource is one provider's counters, registered with
// RegisterCounters.
type CounterSource struct {
	// Name is short and stable: it becomes part of metric names ("soft").
	Name string
	// Description names the provider for people ("the software RNIC").
	Description string
	// Read returns the counters now; safe for concurrent use.
	Read func() Counters
}

// counterSources are the registered sources; providers register from
// init, consumers (brickd's metrics) read them without naming a provider.
var counterSources struct {
	sync.Mutex
	list []CounterSource
}

// RegisterCounters publishes a provider's counters. A provider whose
// device counts bytes itself (a hardware NIC's port counters) need not.
func RegisterCounters(src CounterSource) {
	counterSources.Lock()
	defer counterSources.Unlock()
	counterSources.list = append(counterSources.list, src)
	sort.Slice(counterSources.list, func(i, j int) bool { return counterSources.list[i].Name < counterSources.list[j].Name })
}

// CounterSources returns the registered sources, by name.
func CounterSources() []CounterSource {
	counterSources.Lock()
	defer counterSources.Unlock()
	return append([]CounterSource(nil), counterSources.list...)
}
