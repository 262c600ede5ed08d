package hostmetrics

import (
	"context"
	"slices"
	"strings"

	"github.com/shirou/gopsutil/v3/net"

	"github.com/lightmetrics/lightmetrics/pkg/batch"
)

// networkSource reports interface counters through gopsutil: per interface
// and direction as series, summed over interfaces other than loopback in the
// heartbeat (loopback traffic never leaves the host).
type networkSource struct{}

const fromNetDev = "/proc/net/dev via gopsutil net.IOCountersWithContext"

// Label values of the direction label.
const (
	directionRx = "rx"
	directionTx = "tx"
)

var (
	descNetRxBytes = scalarDesc("host_network_receive_bytes_total", batch.KindCounter, "bytes", fromNetDev,
		"Bytes received, all interfaces but loopback.")
	descNetTxBytes = scalarDesc("host_network_transmit_bytes_total", batch.KindCounter, "bytes", fromNetDev,
		"Bytes sent, all interfaces but loopback.")
	descNetRxPackets = scalarDesc("host_network_receive_packets_total", batch.KindCounter, "packets", fromNetDev,
		"Packets received, all interfaces but loopback.")
	descNetTxPackets = scalarDesc("host_network_transmit_packets_total", batch.KindCounter, "packets", fromNetDev,
		"Packets sent, all interfaces but loopback.")
	descNetRxErrors = scalarDesc("host_network_receive_errors_total", batch.KindCounter, "errors", fromNetDev,
		"Receive errors, all interfaces but loopback.")
	descNetTxErrors = scalarDesc("host_network_transmit_errors_total", batch.KindCounter, "errors", fromNetDev,
		"Transmit errors, all interfaces but loopback.")
	descNetRxDrops = scalarDesc("host_network_receive_drops_total", batch.KindCounter, "packets", fromNetDev,
		"Received packets dropped, all interfaces but loopback.")
	descNetTxDrops = scalarDesc("host_network_transmit_drops_total", batch.KindCounter, "packets", fromNetDev,
		"Outgoing packets dropped, all interfaces but loopback.")

	netLabels = []string{"device", "direction"}

	descNetdevBytes = seriesDesc("host_netdev_bytes_total", batch.KindCounter, netLabels, "bytes", fromNetDev,
		"Bytes through one interface in one direction (rx, tx).")
	descNetdevPackets = seriesDesc("host_netdev_packets_total", batch.KindCounter, netLabels, "packets", fromNetDev,
		"Packets through one interface in one direction.")
	descNetdevErrors = seriesDesc("host_netdev_errors_total", batch.KindCounter, netLabels, "errors", fromNetDev,
		"Errors on one interface in one direction.")
	descNetdevDrops = seriesDesc("host_netdev_drops_total", batch.KindCounter, netLabels, "packets", fromNetDev,
		"Packets dropped on one interface in one direction.")
)

func (*networkSource) name() string { return "network" }

func (*networkSource) describe() []*desc {
	return []*desc{descNetRxBytes, descNetTxBytes, descNetRxPackets, descNetTxPackets,
		descNetRxErrors, descNetTxErrors, descNetRxDrops, descNetTxDrops,
		descNetdevBytes, descNetdevPackets, descNetdevErrors, descNetdevDrops}
}

func (*networkSource) collect(_ context.Context, s *sink) error {
	nics, err := net.IOCountersWithContext(s.gopsutil, true)
	if err != nil {
		return err
	}
	if len(nics) == 0 {
		return ErrNoData
	}
	slices.SortFunc(nics, func(a, b net.IOCountersStat) int { return strings.Compare(a.Name, b.Name) })
	var t net.IOCountersStat
	for i := range nics {
		n := &nics[i]
		s.add(descNetdevBytes, float64(n.BytesRecv), n.Name, directionRx)
		s.add(descNetdevBytes, float64(n.BytesSent), n.Name, directionTx)
		s.add(descNetdevPackets, float64(n.PacketsRecv), n.Name, directionRx)
		s.add(descNetdevPackets, float64(n.PacketsSent), n.Name, directionTx)
		s.add(descNetdevErrors, float64(n.Errin), n.Name, directionRx)
		s.add(descNetdevErrors, float64(n.Errout), n.Name, directionTx)
		s.add(descNetdevDrops, float64(n.Dropin), n.Name, directionRx)
		s.add(descNetdevDrops, float64(n.Dropout), n.Name, directionTx)
		if n.Name == "lo" {
			continue
		}
		t.BytesRecv += n.BytesRecv
		t.BytesSent += n.BytesSent
		t.PacketsRecv += n.PacketsRecv
		t.PacketsSent += n.PacketsSent
		t.Errin += n.Errin
		t.Errout += n.Errout
		t.Dropin += n.Dropin
		t.Dropout += n.Dropout
	}
	s.scalar(descNetRxBytes, float64(t.BytesRecv))
	s.scalar(descNetTxBytes, float64(t.BytesSent))
	s.scalar(descNetRxPackets, float64(t.PacketsRecv))
	s.scalar(descNetTxPackets, float64(t.PacketsSent))
	s.scalar(descNetRxErrors, float64(t.Errin))
	s.scalar(descNetTxErrors, float64(t.Errout))
	s.scalar(descNetRxDrops, float64(t.Dropin))
	s.scalar(descNetTxDrops, float64(t.Dropout))
	return nil
}
