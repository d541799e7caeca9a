package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

func sessionsCommand() *cli.Command {
	return &cli.Command{
		Name:  "sessions",
		Usage: "list the brick's sessions and the maps they hold",
		Description: "AUTH is key (proved the brick's key), none (the brick has no key) or pending (not\n" +
			"authenticated yet). The session marked * is brickctl's own.",
		Action: action(func(c *call) error {
			if c.NArg() != 0 {
				return usagef("sessions takes no arguments")
			}
			return withClient(c, func(ctx context.Context, cl *client.Client) error {
				list, err := cl.Sessions(ctx)
				if err != nil {
					return err
				}
				return printSessions(c, list)
			})
		}),
	}
}

type heldJSON struct {
	ID       string `json:"id"`
	Access   string `json:"access"`
	Shared   bool   `json:"shared"`
	Revoking bool   `json:"revoking"`
}

type sessionJSON struct {
	ID    uint64     `json:"id"`
	Peer  string     `json:"peer"`
	AgeMS uint64     `json:"age_ms"`
	Auth  string     `json:"auth"`
	Self  bool       `json:"self"`
	Maps  []heldJSON `json:"maps"`
}

// mapsShown bounds the maps of one session in the human table.
const mapsShown = 4

func printSessions(c *call, list []protocol.SessionInfo) error {
	js := make([]sessionJSON, 0, len(list))
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tPEER\tAGE\tAUTH\tMAPS")
	for _, s := range list {
		j := sessionJSON{ID: s.ID, Peer: s.Peer, AgeMS: s.AgeMS, Auth: authOf(s.Flags), Self: s.Flags&protocol.SessionSelf != 0, Maps: []heldJSON{}}
		var maps []string
		for _, h := range s.Held {
			access := "ro"
			if h.Flags&protocol.HeldRW != 0 {
				access = "rw"
			}
			j.Maps = append(j.Maps, heldJSON{ID: hexID(h.ID), Access: access, Shared: h.Flags&protocol.HeldShared != 0, Revoking: h.Flags&protocol.HeldRevoking != 0})
			if len(maps) < mapsShown {
				maps = append(maps, hexID(h.ID)+" "+access)
			}
		}
		js = append(js, j)
		held := fmt.Sprintf("%d", len(s.Held))
		if len(maps) > 0 {
			held += " (" + strings.Join(maps, ", ")
			if len(s.Held) > mapsShown {
				held += fmt.Sprintf(", +%d more", len(s.Held)-mapsShown)
			}
			held += ")"
		}
		id := fmt.Sprintf("%d", s.ID)
		if j.Self {
			id += " *"
		}
		age := time.Duration(s.AgeMS) * time.Millisecond
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, s.Peer, age.Round(time.Second), j.Auth, held)
	}
	tw.Flush()
	human := strings.TrimRight(b.String(), "\n") + fmt.Sprintf("\n%d session(s)", len(list))
	return emit(c, js, human)
}

func authOf(flags uint8) string {
	switch {
	case flags&protocol.SessionKeyProved != 0:
		return "key"
	case flags&protocol.SessionReady != 0:
		return "none"
	}
	return "pending"
}
