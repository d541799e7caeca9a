package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the brick's capacity, usage, persistence and sessions",
		Action: action(func(c *call) error {
			return withClient(c, func(ctx context.Context, cl *client.Client) error {
				st, err := cl.Status(ctx)
				if err != nil {
					return err
				}
				return printStatus(c, c.String("addr"), st, cl.MPACRC())
			})
		}),
	}
}

// cpuFlushName names the instruction the brick flushes its own stores
// with; empty when it does not flush with the CPU.
func cpuFlushName(c protocol.CPUFlush) string {
	if c == protocol.CPUFlushNone {
		return ""
	}
	return c.String()
}

// backendName is the backend and, for one the protocol does not name, what
// its memory promises.
func backendName(st *protocol.StatusReply) string {
	if st.Backend == protocol.BackendOther {
		return "other (" + st.Capabilities.String() + ")"
	}
	return st.Backend.String()
}

func methodNames(s protocol.PersistMethods) []string {
	var out []string
	for _, m := range s.List() {
		out = append(out, m.String())
	}
	return out
}

func printStatus(c *call, addr string, st *protocol.StatusReply, crc string) error {
	used := st.Frames - st.FreeFrames
	v := map[string]any{
		"addr": addr, "uuid": uuid.UUID(st.UUID).String(),
		"frames": st.Frames, "free_frames": st.FreeFrames, "blocks": st.Blocks,
		"capacity_bytes": st.Frames * protocol.BlockSize, "used_bytes": used * protocol.BlockSize,
		"mapped_blocks": st.Mapped, "unclean_blocks": st.Unclean, "sessions": st.Sessions,
		"backend": backendName(st), "capabilities": st.Capabilities.String(), "persistent": st.Persistent, "persist_methods": methodNames(st.Methods),
		"cpu_flush":      st.CPUFlush.String(), // "none" where the text leaves it out
		"persistence":    postureJSON(st),
		"block_capacity": st.BlockCapacity(),
		"tier_slots":     st.TierSlots, "tier_free_slots": st.TierFreeSlots, "tiered_blocks": st.Tiered,
	}
	if crc != "" {
		v["mpa_crc"] = crc
	}
	methods := strings.Join(methodNames(st.Methods), ", ")
	if methods == "" {
		methods = "none: writes are never persistent"
	}
	backend := backendName(st)
	if f := cpuFlushName(st.CPUFlush); f != "" {
		backend += ", cpu flush " + f
	}
	var b strings.Builder
	fmt.Fprintf(&b, "brick %s at %s\n", uuid.UUID(st.UUID), addr)
	fmt.Fprintf(&b, "capacity   %s in %d frames, %s of them holding data, %d frames free\n",
		humanBytes(st.Frames*protocol.BlockSize), st.Frames, humanBytes(used*protocol.BlockSize), st.FreeFrames)
	fmt.Fprintf(&b, "blocks     %d allocated of at most %d", st.Blocks, st.BlockCapacity())
	if st.BlockRoom() == 0 {
		b.WriteString(": full, every alloc fails (a block takes its frame at its first map)")
	}
	b.WriteString("\n")
	if st.TierSlots > 0 {
		fmt.Fprintf(&b, "tier       %s in %d slots, %d block(s) tiered, %d slots free\n",
			humanBytes(st.TierSlots*protocol.BlockSize), st.TierSlots, st.Tiered, st.TierFreeSlots)
	}
	fmt.Fprintf(&b, "maps       %d block(s) mapped, %d session(s)\n", st.Mapped, st.Sessions)
	if crc != "" {
		fmt.Fprintf(&b, "session    this one over tcp (software RNIC), MPA CRC %s\n", crc)
	}
	fmt.Fprintf(&b, "backend    %s, persistent: %v, persist methods: %s", backend, st.Persistent, methods)
	postureText(&b, st)
	if st.Unclean > 0 {
		fmt.Fprintf(&b, "\nwarning    %d block(s) were mapped read-write at an unclean shutdown and may hold torn writes", st.Unclean)
	}
	return emit(c, v, b.String())
}
