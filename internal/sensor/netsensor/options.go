package netsensor

import (
	"os"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/netspec"
)

// OptionsFrom turns a netsensor section (validated when it was loaded)
// into the sensor's configuration. An empty id is the hostname.
func OptionsFrom(n config.NetSensor) (Config, error) {
	c := Config{
		ID: n.ID, SummaryInterval: n.SummaryInterval, MaxFlows: n.MaxFlows, AttemptTimeout: n.AttemptTimeout,
		TCPIdle: n.TCPIdle, UDPIdle: n.UDPIdle, RecordBudget: n.RecordBudget, MaxSubjects: n.MaxSubjects,
		Subjects: n.Subjects, BannerBytes: n.BannerBytes,
	}
	if c.ID == "" {
		c.ID, _ = os.Hostname()
	}
	for _, s := range n.Services {
		svc, err := netspec.ParseService(s)
		if err != nil {
			return c, err
		}
		c.Services = append(c.Services, svc)
	}
	var err error
	if c.Internal, err = netspec.ParsePrefixes(n.Internal); err != nil {
		return c, err
	}
	for _, st := range n.Streams {
		out := Stream{Name: st.Name, Unassigned: st.Unassigned, Apps: st.Apps, Direction: st.Direction}
		for _, p := range st.Protocols {
			pr, err := netspec.ParseProto(p)
			if err != nil {
				return c, err
			}
			out.Protocols = append(out.Protocols, pr)
		}
		if out.Src, err = netspec.ParsePrefixes(st.Src); err != nil {
			return c, err
		}
		if out.Dst, err = netspec.ParsePrefixes(st.Dst); err != nil {
			return c, err
		}
		for _, p := range st.Ports {
			out.Ports = append(out.Ports, uint16(p))
		}
		for _, f := range st.Flags {
			fl, err := netspec.ParseFlags(f)
			if err != nil {
				return c, err
			}
			out.Flags = append(out.Flags, fl)
		}
		c.Streams = append(c.Streams, out)
	}
	return c, nil
}
