//go:build ibverbs

package ibverbs

/*
#cgo LDFLAGS: -libverbs -lrdmacm
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"net"
	"sync"

	"github.com/Mellanox/rdmamap"
)

// probe caches whether libibverbs sees any RDMA device: the answer does not
// change while brick runs (hot-plugged NICs need a restart).
var probe struct {
	once sync.Once
	err  error
}

// probeDevices returns nil when at least one RDMA device exists and an
// error wrapping verbs.ErrNotSupported otherwise.
func probeDevices() error {
	probe.once.Do(func() {
		n := int(C.brick_device_count())
		switch {
		case n < 0:
			probe.err = notSupported("brick: no RDMA device found (ibv_get_device_list failed: %v); use tcp:// for the software RNIC", errno(n))
		case n == 0:
			probe.err = errNoDevice
		}
	})
	return probe.err
}

// netdev is the network interface Options.Netdev names, with its RDMA
// device.
type netdev struct {
	name  string
	ibdev string   // RDMA device name, e.g. mlx5_0
	addrs []net.IP // interface addresses, IPv4 first
}

// lookupNetdev maps a network interface to its RDMA device (rdmamap reads
// sysfs and netlink).
func lookupNetdev(name string) (*netdev, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("brick: network interface %q: %w", name, err)
	}
	ibdev, err := rdmamap.GetRdmaDeviceForNetdevice(name)
	if err != nil || ibdev == "" {
		if err == nil {
			err = fmt.Errorf("no device in %s", rdmamap.RdmaClassDir)
		}
		return nil, notSupported("brick: network interface %q has no RDMA device (%v); pick another --rdma-netdev or use tcp://", name, err)
	}
	nd := &netdev{name: name, ibdev: ibdev}
	as, err := ifc.Addrs()
	if err != nil {
		return nil, fmt.Errorf("brick: addresses of %q: %w", name, err)
	}
	var v6 []net.IP
	for _, a := range as {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip4 := ipn.IP.To4(); ip4 != nil {
			nd.addrs = append(nd.addrs, ip4)
		} else {
			v6 = append(v6, ipn.IP)
		}
	}
	nd.addrs = append(nd.addrs, v6...)
	if len(nd.addrs) == 0 {
		return nil, fmt.Errorf("brick: network interface %q (RDMA device %s) has no IP address; rdma_cm needs one", name, ibdev)
	}
	return nd, nil
}

// has reports whether ip is one of the interface's addresses.
func (n *netdev) has(ip net.IP) bool {
	for _, a := range n.addrs {
		if a.Equal(ip) {
			return true
		}
	}
	return false
}

// deviceCaps are what the provider uses of ibv_query_device(_ex).
type deviceCaps struct {
	maxQPWR, maxCQE         int
	maxRdAtom, maxInitRdAtm int
	memWindows              bool
	atomicWrite             bool
	flushPersistent         bool
}

func queryDevice(ctx *C.struct_ibv_context) (deviceCaps, error) {
	var c C.struct_brick_dev_caps
	if rc := C.brick_query_device(ctx, &c); rc != 0 {
		return deviceCaps{}, cmError("query device", int(rc))
	}
	return deviceCaps{
		maxQPWR: int(c.max_qp_wr), maxCQE: int(c.max_cqe),
		maxRdAtom: int(c.max_qp_rd_atom), maxInitRdAtm: int(c.max_qp_init_rd_atom),
		memWindows: c.mem_windows != 0, atomicWrite: c.atomic_write != 0,
		flushPersistent: c.flush_persistent != 0,
	}, nil
}
