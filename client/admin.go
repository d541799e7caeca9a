package client

import (
	"context"
	"fmt"

	"github.com/brick-storage/brick/protocol"
)

// FreeRangeResult is what FreeRange did over the whole range.
type FreeRangeResult struct {
	Freed uint64 // blocks freed
	// Busy blocks were left allocated because a session maps them;
	// FirstBusy is the lowest of them.
	Busy, FirstBusy uint64
}

// FreeRange frees every allocated block with first ≤ ID ≤ last that no
// session maps, asking page by page (the brick bounds each request). A
// mapped block is left allocated and counted in Busy; freeing never
// revokes a map. On an error, the result counts what was done before it.
func (c *Client) FreeRange(ctx context.Context, first, last uint64) (FreeRangeResult, error) {
	var res FreeRangeResult
	for {
		m, err := c.call(ctx, &protocol.FreeRangeRequest{First: first, Last: last})
		if err != nil {
			return res, fmt.Errorf("free %#x..%#x: %w", first, last, err)
		}
		r := m.(*protocol.FreeRangeReply)
		if r.Busy > 0 && res.Busy == 0 {
			res.FirstBusy = r.FirstBusy
		}
		res.Freed += uint64(r.Freed)
		res.Busy += uint64(r.Busy)
		if !r.More {
			return res, nil
		}
		if r.Next <= first || r.Next > last {
			return res, fmt.Errorf("free %#x..%#x: %w: brick's cursor %#x is outside what is left", first, last, protocol.ErrProtocol, r.Next)
		}
		first = r.Next
	}
}

// Sessions lists the brick's live sessions with the maps they hold, in
// ID order. The list is gathered page by page, so it is not one instant's
// snapshot: a session may end or map between pages.
func (c *Client) Sessions(ctx context.Context) ([]protocol.SessionInfo, error) {
	var out []protocol.SessionInfo
	var session, block uint64
	for {
		m, err := c.call(ctx, &protocol.SessionsRequest{Session: session, Block: block})
		if err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
		r := m.(*protocol.SessionsReply)
		for _, s := range r.Sessions {
			// A session whose maps did not fit goes on in the next page.
			if n := len(out); n > 0 && out[n-1].ID == s.ID {
				out[n-1].Held = append(out[n-1].Held, s.Held...)
				continue
			}
			out = append(out, s)
		}
		if !r.More {
			return out, nil
		}
		if r.NextSession < session || r.NextSession == session && r.NextBlock <= block {
			return nil, fmt.Errorf("sessions: %w: brick's cursor went backwards", protocol.ErrProtocol)
		}
		session, block = r.NextSession, r.NextBlock
	}
}

// SessionID is this session's ID at the brick (what Sessions lists).
func (c *Client) SessionID() uint64 { return c.hello.SessionID }

func (c *Client) revoke(ctx context.Context, what string, req *protocol.RevokeRequest) (*protocol.RevokeReply, error) {
	m, err := c.call(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return m.(*protocol.RevokeReply), nil
}

// RevokeSession revokes every map session id holds; the session stays and
// may map again. It returns how many maps were revoked. Their keys are
// dead when it returns.
func (c *Client) RevokeSession(ctx context.Context, id uint64) (int, error) {
	r, err := c.revoke(ctx, fmt.Sprintf("revoke the maps of session %d", id), &protocol.RevokeRequest{Session: id})
	if err != nil {
		return 0, err
	}
	return int(r.Maps), nil
}

// EndSession ends session id (not this one) and returns once it has
// ended, its maps revoked; it returns how many maps it held.
func (c *Client) EndSession(ctx context.Context, id uint64) (int, error) {
	r, err := c.revoke(ctx, fmt.Sprintf("end session %d", id), &protocol.RevokeRequest{Session: id, Flags: protocol.RevokeEnd})
	if err != nil {
		return 0, err
	}
	return int(r.Maps), nil
}

// RevokeMap revokes the map of block held by whichever sessions hold it
// (several for read-only or shared maps): an administrator's unmap. It
// returns how many maps were revoked; ErrNotMapped when none held it.
func (c *Client) RevokeMap(ctx context.Context, block uint64) (int, error) {
	r, err := c.revoke(ctx, fmt.Sprintf("revoke the maps of block %#x", block), &protocol.RevokeRequest{Block: block, Flags: protocol.RevokeBlock})
	if err != nil {
		return 0, err
	}
	return int(r.Maps), nil
}
