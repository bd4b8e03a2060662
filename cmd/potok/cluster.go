package main

// potok cluster info: what kafka-broker-api-versions.sh and kcat -L print
// about the cluster itself.

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func clusterInfo(e *cliEnv, args []string) error {
	fs := e.flags("")
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	adm, ctx, done, err := e.admin()
	if err != nil {
		return err
	}
	defer done()
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	versions, err := adm.ApiVersions(ctx)
	if err != nil {
		return err
	}
	type brokerInfo struct {
		ID   int32   `json:"id"`
		Host string  `json:"host"`
		Port int32   `json:"port"`
		Rack *string `json:"rack,omitempty"`
		APIs int     `json:"apis"`
	}
	type feature struct {
		Name      string `json:"name"`
		Supported string `json:"supported"`
		Finalized *int16 `json:"finalized,omitempty"`
	}
	out := struct {
		ClusterID  string       `json:"cluster_id"`
		Controller int32        `json:"controller"`
		Brokers    []brokerInfo `json:"brokers"`
		Features   []feature    `json:"features"`
	}{ClusterID: m.Cluster, Controller: m.Controller, Brokers: []brokerInfo{}, Features: []feature{}}
	var raw *kmsg.ApiVersionsResponse
	for _, b := range m.Brokers {
		bi := brokerInfo{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack}
		if v, ok := versions[b.NodeID]; ok && v.Err == nil {
			bi.APIs = len(v.Raw().ApiKeys)
			if raw == nil {
				raw = v.Raw()
			}
		}
		out.Brokers = append(out.Brokers, bi)
	}
	if raw != nil {
		fin := map[string]int16{}
		for _, f := range raw.FinalizedFeatures {
			fin[f.Name] = f.MaxVersionLevel
		}
		for _, f := range raw.SupportedFeatures {
			ft := feature{Name: f.Name, Supported: fmt.Sprintf("%d-%d", f.MinVersion, f.MaxVersion)}
			if l, ok := fin[f.Name]; ok {
				ft.Finalized = &l
			}
			out.Features = append(out.Features, ft)
		}
		slices.SortFunc(out.Features, func(a, b feature) int {
			if a.Name < b.Name {
				return -1
			}
			return 1
		})
	}
	if e.format == "json" {
		return e.json(out)
	}
	fmt.Fprintf(e.stdout, "Cluster %s, controller %d, %d brokers.\n\n", out.ClusterID, out.Controller, len(out.Brokers))
	tb := e.table("BROKER", "HOST", "PORT", "RACK", "APIS")
	for _, b := range out.Brokers {
		rack := "-"
		if b.Rack != nil {
			rack = *b.Rack
		}
		tb.row(b.ID, b.Host, b.Port, rack, b.APIs)
	}
	tb.flush()
	if len(out.Features) > 0 {
		fmt.Fprintln(e.stdout)
		tb := e.table("FEATURE", "SUPPORTED", "FINALIZED")
		for _, f := range out.Features {
			fin := "-"
			if f.Finalized != nil {
				fin = fmt.Sprint(*f.Finalized)
			}
			tb.row(f.Name, f.Supported, fin)
		}
		tb.flush()
	}
	return nil
}
