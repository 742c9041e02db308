package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

// A rule table that swaps two brokers works at bootstrap, where any broker
// answers Metadata; probe finds each swapped broker answering as the
// other, and names the rule.
func TestProbeSwappedBrokers(t *testing.T) {
	c := cluster(t)
	adv, real := c.Advertised(), c.Addrs()
	rules := fmt.Sprintf("%s => %s\n%s => %s\n%s => %s", adv[0], real[0], adv[1], real[2], adv[2], real[1])
	status, out, errOut := kn(t, "probe", "--bootstrap", adv[0], "--rules", rules)
	require.Equal(t, exitUnreachable, status)
	require.Empty(t, errOut)
	rows := table(t, out)
	requireOK(t, rows[0], "direct", "tcp", "kafka")
	for _, i := range []int{1, 2} {
		require.Equal(t, "wrong-broker", rows[i].status, "node %d", i)
		requireStages(t, rows[i].stages, "tcp", "kafka")
	}
	got := lines(out)
	require.Contains(t, got, fmt.Sprintf("node 1 wrong-broker: rule 2 sends node 1 (%s) to the endpoint of node 2 (%s): %s via direct answers DescribeConfigs as node 2", adv[1], adv[2], real[2]))
	require.Contains(t, got, fmt.Sprintf("node 2 wrong-broker: rule 3 sends node 2 (%s) to the endpoint of node 1 (%s): %s via direct answers DescribeConfigs as node 1", adv[2], adv[1], real[1]))
	require.Equal(t, "1 of 3 brokers reachable", got[len(got)-1])

	status, out, _ = kn(t, "probe", "--bootstrap", adv[0], "--rules", rules, "--json")
	require.Equal(t, exitUnreachable, status)
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.False(t, rep.OK)
	require.Equal(t, Identity{Status: "verified", AnsweredAs: 0, Method: "DescribeConfigs"}, rep.Brokers[0].Identity)
	require.Equal(t, Identity{Status: "wrong-broker", AnsweredAs: 2, Method: "DescribeConfigs"}, rep.Brokers[1].Identity)
	require.Equal(t, Identity{Status: "wrong-broker", AnsweredAs: 1, Method: "DescribeConfigs"}, rep.Brokers[2].Identity)
	require.Equal(t, "wrong-broker", rep.Brokers[1].Status)
	require.Empty(t, rep.Brokers[1].FailedStage, "every stage worked; the endpoint is the wrong one")

	// A broker of another cluster whose id this cluster does not have
	// answers as none of its brokers.
	other := cluster(t, kafkanattest.Brokers(4))
	rules = fmt.Sprintf("%s => %s\n%s => %s\n%s => %s", adv[0], real[0], adv[1], real[1], adv[2], other.Addrs()[3])
	status, out, _ = kn(t, "probe", "--bootstrap", adv[0], "--rules", rules)
	require.Equal(t, exitUnreachable, status)
	require.Contains(t, lines(out), fmt.Sprintf("node 2 wrong-broker: rule 3 sends node 2 (%s) to the endpoint of a broker that is none of the 3 in the metadata (another cluster's?): %s via direct answers DescribeConfigs as none of them",
		adv[2], other.Addrs()[3]))
}

// fakeBroker answers identify's requests as a broker of a cluster of
// three, node 0..2, that is node self, leads partition p of topic "t"
// when p%3 is its id, and refuses DescribeConfigs when noConfigs.
type fakeBroker struct {
	self      int32
	noConfigs bool
	noTopics  bool
	requests  []string
}

func (b *fakeBroker) request(req kmsg.Request) (kmsg.Response, time.Duration, error) {
	b.requests = append(b.requests, kmsg.NameForKey(req.Key()))
	switch req := req.(type) {
	case *kmsg.DescribeConfigsRequest:
		resp := kmsg.NewPtrDescribeConfigsResponse()
		for _, r := range req.Resources {
			rr := kmsg.NewDescribeConfigsResponseResource()
			rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
			switch {
			case b.noConfigs:
				rr.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			case r.ResourceName != fmt.Sprint(b.self):
				rr.ErrorCode = kerr.InvalidRequest.Code
			}
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, 0, nil
	case *kmsg.MetadataRequest:
		resp := kmsg.NewPtrMetadataResponse()
		if !b.noTopics {
			topic := kmsg.NewMetadataResponseTopic()
			topic.Topic = kmsg.StringPtr("t")
			for p := range int32(6) {
				mp := kmsg.NewMetadataResponseTopicPartition()
				mp.Partition, mp.Leader = p, p%3
				topic.Partitions = append(topic.Partitions, mp)
			}
			resp.Topics = append(resp.Topics, topic)
		}
		return resp, 0, nil
	case *kmsg.ListOffsetsRequest:
		resp := kmsg.NewPtrListOffsetsResponse()
		for _, rt := range req.Topics {
			topic := kmsg.NewListOffsetsResponseTopic()
			topic.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewListOffsetsResponseTopicPartition()
				p.Partition = rp.Partition
				if rp.Partition%3 != b.self {
					p.ErrorCode = kerr.NotLeaderForPartition.Code
				}
				topic.Partitions = append(topic.Partitions, p)
			}
			resp.Topics = append(resp.Topics, topic)
		}
		return resp, 0, nil
	}
	return nil, 0, fmt.Errorf("unexpected %T", req)
}

// Without DESCRIBE_CONFIGS on the cluster, identify asks who leads which
// partition instead; when neither works, it says why.
func TestIdentify(t *testing.T) {
	nodes := []int32{0, 1, 2}
	for _, tc := range []struct {
		name     string
		broker   fakeBroker
		node     int32
		want     Identity
		requests []string
	}{
		{"configs: itself", fakeBroker{self: 1}, 1,
			Identity{Status: "verified", AnsweredAs: 1, Method: "DescribeConfigs"}, []string{"DescribeConfigs"}},
		{"configs: another", fakeBroker{self: 2}, 1,
			Identity{Status: "wrong-broker", AnsweredAs: 2, Method: "DescribeConfigs"}, []string{"DescribeConfigs"}},
		{"configs: none of the cluster's", fakeBroker{self: 7}, 1,
			Identity{Status: "wrong-broker", AnsweredAs: -1, Method: "DescribeConfigs"}, []string{"DescribeConfigs"}},
		{"leadership: itself", fakeBroker{self: 1, noConfigs: true}, 1,
			Identity{Status: "verified", AnsweredAs: 1, Method: "ListOffsets"}, []string{"DescribeConfigs", "Metadata", "ListOffsets"}},
		{"leadership: another", fakeBroker{self: 0, noConfigs: true}, 2,
			Identity{Status: "wrong-broker", AnsweredAs: 0, Method: "ListOffsets"}, []string{"DescribeConfigs", "Metadata", "ListOffsets"}},
		{"leadership: leads nothing asked", fakeBroker{self: 5, noConfigs: true}, 2,
			Identity{Status: "unverified", AnsweredAs: -1, Note: "DescribeConfigs of broker 0: CLUSTER_AUTHORIZATION_FAILED: Cluster authorization failed.; " +
				"the endpoint leads none of the partitions asked about, t/2 of node 2 included"},
			[]string{"DescribeConfigs", "Metadata", "ListOffsets"}},
		{"no partitions", fakeBroker{self: 1, noConfigs: true, noTopics: true}, 1,
			Identity{Status: "unverified", AnsweredAs: -1, Note: "DescribeConfigs of broker 0: CLUSTER_AUTHORIZATION_FAILED: Cluster authorization failed.; " +
				"node 1 leads no partition this client may see, to ask ListOffsets about"},
			[]string{"DescribeConfigs", "Metadata"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.broker
			require.Equal(t, tc.want, identify(b.request, tc.node, nodes))
			require.Equal(t, tc.requests, b.requests)
		})
	}
}
