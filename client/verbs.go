package client

import (
	"context"
	"fmt"
	"math"

	"github.com/brick-storage/brick/protocol"
)

// BlockSize is the size of every block.
const BlockSize = protocol.BlockSize

// MaxID is the highest block ID (the last 2 MiB-aligned uint64).
const MaxID = math.MaxUint64 &^ (BlockSize - 1)

// Alloc allocates block id (a 2 MiB-aligned logical ID), zero-filled.
func (c *Client) Alloc(ctx context.Context, id uint64) error {
	if _, err := c.call(ctx, &protocol.AllocRequest{ID: id}); err != nil {
		return fmt.Errorf("alloc %#x: %w", id, err)
	}
	return nil
}

// Free returns block id to the brick. A mapped block is refused (ErrBusy).
func (c *Client) Free(ctx context.Context, id uint64) error {
	if _, err := c.call(ctx, &protocol.FreeRequest{ID: id}); err != nil {
		return fmt.Errorf("free %#x: %w", id, err)
	}
	return nil
}

// Map maps block id with protocol.MapReadOnly or protocol.MapReadWrite
// (optionally | protocol.MapShared) and returns its RDMA handle.
// Read-only maps of a block coexist; a read-write map coexists with
// others only if it and all of them asked for MapShared. A conflicting
// map, or a second map of the block by this session, is ErrBusy; an
// unallocated block ErrNotFound; bad flags or an unaligned ID ErrInvalid;
// a session at the brick's maximum of maps ErrLimit.
func (c *Client) Map(ctx context.Context, id uint64, flags uint32) (*Handle, error) {
	m, err := c.call(ctx, &protocol.MapRequest{ID: id, Flags: flags})
	if err != nil {
		return nil, fmt.Errorf("map %#x: %w", id, err)
	}
	return c.handle(id, m.(*protocol.MapReply)), nil
}

// AllocMap allocates block id and maps it with flags, as Alloc then Map
// would: in one round trip and one synced commit at the brick when it
// offers it (protocol.FeatureAllocMap), else as Alloc then Map, and Free
// if the Map is refused. A refusal leaves no block either way; the checks
// run in the order flags, id (unaligned, allocated), then, at the brick,
// the session's map limit before its capacity (as Alloc then Map, the
// capacity comes first). A lost connection or an expired ctx can leave the
// block allocated, as it can any verb's effect.
func (c *Client) AllocMap(ctx context.Context, id uint64, flags uint32) (*Handle, error) {
	if !protocol.ValidMapFlags(flags) {
		return nil, fmt.Errorf("alloc-map %#x: %w: map flags %#x: want read-only or read-write", id, ErrInvalid, flags)
	}
	if c.hello.Features&protocol.FeatureAllocMap == 0 {
		return c.allocThenMap(ctx, id, flags)
	}
	m, err := c.call(ctx, &protocol.AllocMapRequest{MapRequest: protocol.MapRequest{ID: id, Flags: flags}})
	if err != nil {
		return nil, fmt.Errorf("alloc-map %#x: %w", id, err)
	}
	return c.handle(id, &m.(*protocol.AllocMapReply).MapReply), nil
}

// allocThenMap is AllocMap for a brick without FeatureAllocMap. The Free
// after a failed Map does not take ctx's deadline: a Map that timed out
// still leaves a block to free (the keep-alive bounds the wait).
func (c *Client) allocThenMap(ctx context.Context, id uint64, flags uint32) (*Handle, error) {
	if err := c.Alloc(ctx, id); err != nil {
		return nil, err
	}
	h, err := c.Map(ctx, id, flags)
	if err == nil {
		return h, nil
	}
	if ferr := c.Free(context.WithoutCancel(ctx), id); ferr != nil {
		return nil, fmt.Errorf("%w (and the block stays allocated: %v)", err, ferr)
	}
	return nil, err
}

func (c *Client) handle(id uint64, r *protocol.MapReply) *Handle {
	return &Handle{c: c, ID: id, RKey: r.RKey, Addr: r.Addr, Length: r.Length, Access: r.Access, Method: r.Method}
}

// Unmap revokes this session's handle on block id, whatever its key.
func (c *Client) Unmap(ctx context.Context, id uint64) error {
	return c.unmap(ctx, &protocol.UnmapRequest{ID: id})
}

func (c *Client) unmap(ctx context.Context, req *protocol.UnmapRequest) error {
	if _, err := c.call(ctx, req); err != nil {
		return fmt.Errorf("unmap %#x: %w", req.ID, err)
	}
	return nil
}

// List returns the extents of allocated blocks with first ≤ ID ≤ last, in
// ID order, each a run of consecutive blocks in one state
// (protocol.ExtentState). A mapped block shows as mapped even when it is
// also unclean; StatusReply.Unclean counts those. first > last is
// ErrInvalid.
func (c *Client) List(ctx context.Context, first, last uint64) ([]protocol.Extent, error) {
	if first > last {
		return nil, fmt.Errorf("list %#x..%#x: %w: first is past last", first, last, ErrInvalid)
	}
	var out []protocol.Extent
	for {
		m, err := c.call(ctx, &protocol.ListRequest{First: first, Last: last, Max: protocol.MaxExtentsPerList})
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		r := m.(*protocol.ListReply)
		// A run split across two pages continues where the last one ended.
		for _, e := range r.Extents {
			out, _ = protocol.Coalesce(out, e, 0)
		}
		if !r.More {
			return out, nil
		}
		if r.Next <= first {
			return nil, fmt.Errorf("list: %w: brick's cursor went backwards", protocol.ErrProtocol)
		}
		first = r.Next
	}
}

// Status asks the brick for its status.
func (c *Client) Status(ctx context.Context) (*protocol.StatusReply, error) {
	m, err := c.call(ctx, &protocol.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return m.(*protocol.StatusReply), nil
}
