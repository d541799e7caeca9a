package wire

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// The capture is written by the test itself: a TCP proxy between client
// and brick records both byte streams and frames them as Ethernet/IPv4/TCP
// packets in a classic pcap file. Why not dumpcap on lo: it needs capture
// privileges, it can drop packets under a 2 MiB burst, and waiting for it
// to be ready is a race; the proxy sees every byte, in order, with no
// privileges. What Wireshark then decodes is exactly what the software
// RNIC sent, because TCP is a byte stream and the proxy forwards it
// unchanged.

// pcap file and frame constants.
const (
	pcapMagic      = 0xa1b2c3d4
	pcapLinkEther  = 1
	pcapSnapLen    = 262144
	ethHdrLen      = 14
	ipHdrLen       = 20
	tcpHdrLen      = 20
	maxSegment     = 16384 // payload bytes per synthetic TCP segment
	tcpFIN, tcpSYN = 0x01, 0x02
	tcpPSH, tcpACK = 0x08, 0x10
)

// pcapWriter writes packets of many synthetic TCP connections to one file.
type pcapWriter struct {
	mu struct {
		sync.Mutex
		w   io.Writer
		err error
	}
}

func newPcapWriter(w io.Writer) (*pcapWriter, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagic)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], pcapSnapLen)
	binary.LittleEndian.PutUint32(h[20:], pcapLinkEther)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	p := &pcapWriter{}
	p.mu.w = w
	return p, nil
}

// endpoint is one side of a synthetic TCP connection.
type endpoint struct {
	ip   [4]byte
	port uint16
	seq  uint32 // next sequence number this side sends
}

// tcpFlow is one recorded TCP connection: a is the client, b the server.
type tcpFlow struct {
	pw   *pcapWriter
	a, b endpoint
}

func (p *pcapWriter) flow(client, server *net.TCPAddr, clientIP, serverIP [4]byte) *tcpFlow {
	f := &tcpFlow{pw: p,
		a: endpoint{ip: clientIP, port: uint16(client.Port), seq: 1000},
		b: endpoint{ip: serverIP, port: uint16(server.Port), seq: 5000}}
	p.mu.Lock()
	defer p.mu.Unlock()
	f.packetLocked(&f.a, &f.b, tcpSYN, nil)
	f.packetLocked(&f.b, &f.a, tcpSYN|tcpACK, nil)
	f.packetLocked(&f.a, &f.b, tcpACK, nil)
	return f
}

// data records bytes sent by the client (fromClient) or the server.
func (f *tcpFlow) data(fromClient bool, b []byte) {
	src, dst := &f.a, &f.b
	if !fromClient {
		src, dst = dst, src
	}
	f.pw.mu.Lock()
	defer f.pw.mu.Unlock()
	for len(b) > 0 {
		n := min(len(b), maxSegment)
		f.packetLocked(src, dst, tcpPSH|tcpACK, b[:n])
		b = b[n:]
	}
}

func (f *tcpFlow) fin(fromClient bool) {
	src, dst := &f.a, &f.b
	if !fromClient {
		src, dst = dst, src
	}
	f.pw.mu.Lock()
	defer f.pw.mu.Unlock()
	f.packetLocked(src, dst, tcpFIN|tcpACK, nil)
}

// packetLocked writes one frame from src to dst; SYN and FIN take a
// sequence number. The ACK is what dst has sent so far, so no segment is
// acknowledged before it appears.
func (f *tcpFlow) packetLocked(src, dst *endpoint, flags byte, payload []byte) {
	p := f.pw
	if p.mu.err != nil {
		return
	}
	total := ethHdrLen + ipHdrLen + tcpHdrLen + len(payload)
	pkt := make([]byte, 16+total)
	now := time.Now()
	binary.LittleEndian.PutUint32(pkt[0:], uint32(now.Unix()))
	binary.LittleEndian.PutUint32(pkt[4:], uint32(now.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(pkt[8:], uint32(total))
	binary.LittleEndian.PutUint32(pkt[12:], uint32(total))
	eth := pkt[16:]
	copy(eth[0:6], []byte{2, 0, 0, 0, 0, dst.ip[3]})
	copy(eth[6:12], []byte{2, 0, 0, 0, 0, src.ip[3]})
	binary.BigEndian.PutUint16(eth[12:], 0x0800)
	ip := eth[ethHdrLen:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(ipHdrLen+tcpHdrLen+len(payload)))
	ip[6] = 0x40 // don't fragment
	ip[8] = 64
	ip[9] = 6
	copy(ip[12:16], src.ip[:])
	copy(ip[16:20], dst.ip[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip[:ipHdrLen], 0))
	tcp := ip[ipHdrLen:]
	binary.BigEndian.PutUint16(tcp[0:], src.port)
	binary.BigEndian.PutUint16(tcp[2:], dst.port)
	binary.BigEndian.PutUint32(tcp[4:], src.seq)
	if flags&tcpACK != 0 {
		binary.BigEndian.PutUint32(tcp[8:], dst.seq)
	}
	tcp[12] = tcpHdrLen / 4 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[tcpHdrLen:], payload)
	// Checksum over the pseudo-header and the segment.
	var ph [12]byte
	copy(ph[0:4], src.ip[:])
	copy(ph[4:8], dst.ip[:])
	ph[9] = 6
	binary.BigEndian.PutUint16(ph[10:], uint16(tcpHdrLen+len(payload)))
	binary.BigEndian.PutUint16(tcp[16:], checksum(tcp, sum(ph[:], 0)))
	src.seq += uint32(len(payload))
	if flags&(tcpSYN|tcpFIN) != 0 {
		src.seq++
	}
	_, p.mu.err = p.mu.w.Write(pkt)
}

func sum(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func checksum(b []byte, s uint32) uint16 {
	s = sum(b, s)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// proxy forwards TCP connections from its listener to target and records
// them.
type proxy struct {
	ln     net.Listener
	target string
	pw     *pcapWriter
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string, pw *pcapWriter) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, pw: pw}
	p.wg.Add(1)
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// close stops accepting and waits for every forwarded connection to end.
func (p *proxy) close() {
	p.ln.Close()
	p.wg.Wait()
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		f := p.pw.flow(c.RemoteAddr().(*net.TCPAddr), p.ln.Addr().(*net.TCPAddr),
			[4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2})
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			var both sync.WaitGroup
			both.Add(2)
			go func() { defer both.Done(); pump(c, s, f, true) }()
			go func() { defer both.Done(); pump(s, c, f, false) }()
			both.Wait()
			c.Close()
			s.Close()
		}()
	}
}

// pump copies one direction, recording what it forwards, then half-closes
// it; an error other than the end of the stream closes both directions.
func pump(from, to net.Conn, f *tcpFlow, fromClient bool) {
	buf := make([]byte, 256<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			f.data(fromClient, buf[:n])
			if _, werr := to.Write(buf[:n]); werr != nil && err == nil {
				err = werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			from.Close()
			to.Close()
			break
		}
	}
	f.fin(fromClient)
	to.(*net.TCPConn).CloseWrite()
}
