package alloc2m

import "github.com/brick-storage/brick/protocol"

// View is a store opened read-only (OpenReadOnly): the map of a stopped
// brick, as `brickctl list --meta` reads it after a crash. It offers the
// store's queries and nothing that writes.
type View struct{ store *Store }

// List is Store.List.
func (v *View) List(first, last uint64, max int, stateOf func(Block) protocol.ExtentState) *protocol.ListReply {
	return v.store.List(first, last, max, stateOf)
}

// Lookup is Store.Lookup.
func (v *View) Lookup(id uint64) (Block, error) { return v.store.Lookup(id) }

// Walk is Store.Walk.
func (v *View) Walk(first, last uint64, fn func(Block) bool) { v.store.Walk(first, last, fn) }

// Stats is Store.Stats.
func (v *View) Stats() Stats { return v.store.Stats() }

// UUID is Store.UUID.
func (v *View) UUID() [16]byte { return v.store.UUID() }

// Close releases the store and its directory lock.
func (v *View) Close() error { return v.store.Close() }
