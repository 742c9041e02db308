package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Identity statuses.
const (
	identityVerified   = "verified"     // the endpoint proved to be the broker it was dialed for
	identityWrong      = "wrong-broker" // it proved to be another broker, or none of the cluster's
	identityUnverified = "unverified"   // it could not tell: the broker refused both checks
	identityUnchecked  = "unchecked"    // the broker was not reached
)

// Identity is what the endpoint an advertised address reached proved to
// be. A rule that sends one broker's name to another broker's endpoint
// works at bootstrap (any broker answers Metadata) and then fails with
// NOT_LEADER errors; this catches it.
type Identity struct {
	Status     string `json:"status"`      // "verified", "wrong-broker", "unverified" or "unchecked"
	AnsweredAs int32  `json:"answered_as"` // the node id the endpoint proved to be; -1 when unknown
	// Method is how: "DescribeConfigs" (the broker answers a BROKER
	// resource only for its own id) or "ListOffsets" (only a partition's
	// leader answers for it); "" when neither could tell.
	Method string `json:"method"`
	Note   string `json:"note,omitempty"` // why the identity is unverified
}

// identify finds out which of nodes (the cluster's brokers) the endpoint
// that request talks to is, expecting node.
//
// It asks first with one DescribeConfigs request for the BROKER resource
// of every node: a broker describes only itself and answers
// INVALID_REQUEST for any other id (Kafka's ConfigHelper; kfake does the
// same). That needs DESCRIBE_CONFIGS on the cluster; without it, it falls
// back on partition leadership: a ListOffsets request for one partition
// led by each node (from Metadata), which only the leader answers without
// NOT_LEADER_OR_FOLLOWER.
func identify(request requestFunc, node int32, nodes []int32) Identity {
	id, why := identifyByConfigs(request, node, nodes)
	if id.Status != "" {
		return id
	}
	id, why2 := identifyByLeadership(request, node, nodes)
	if id.Status != "" {
		return id
	}
	return Identity{Status: identityUnverified, AnsweredAs: -1, Note: why + "; " + why2}
}

// identifyByConfigs asks with DescribeConfigs; a zero Identity and the
// reason when the broker would not say.
func identifyByConfigs(request requestFunc, node int32, nodes []int32) (Identity, string) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, n := range nodes {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType = kmsg.ConfigResourceTypeBroker
		r.ResourceName = strconv.Itoa(int(n))
		r.ConfigNames = []string{"broker.id"} // the answer is not used: keep it small
		req.Resources = append(req.Resources, r)
	}
	resp, _, err := request(req)
	if err != nil {
		return Identity{}, "DescribeConfigs failed: " + err.Error()
	}
	answered, others := int32(-1), 0
	for _, r := range resp.(*kmsg.DescribeConfigsResponse).Resources {
		id, err := strconv.Atoi(r.ResourceName)
		switch code := kerr.ErrorForCode(r.ErrorCode); {
		case err != nil:
			return Identity{}, fmt.Sprintf("DescribeConfigs answered for resource %q, which was not asked for", r.ResourceName)
		case code == nil:
			answered = int32(id)
		case errors.Is(code, kerr.InvalidRequest):
			others++
		default:
			return Identity{}, "DescribeConfigs of broker " + r.ResourceName + ": " + code.Error()
		}
	}
	const method = "DescribeConfigs"
	if id, ok := answeredAs(answered, node, method); ok {
		return id, ""
	}
	if others == len(nodes) {
		// It is a broker, and none of this cluster's.
		return Identity{Status: identityWrong, AnsweredAs: -1, Method: method}, ""
	}
	return Identity{}, "DescribeConfigs answered for no broker asked about"
}

// identifyByLeadership asks with ListOffsets for a partition led by each
// node; a zero Identity and the reason when that cannot tell.
func identifyByLeadership(request requestFunc, node int32, nodes []int32) (Identity, string) {
	resp, _, err := request(kmsg.NewPtrMetadataRequest()) // every topic
	if err != nil {
		return Identity{}, "Metadata failed: " + err.Error()
	}
	meta := resp.(*kmsg.MetadataResponse)
	type partition struct {
		topic string
		index int32
	}
	led := map[int32]partition{} // one partition per leader
	topics := slices.Clone(meta.Topics)
	slices.SortFunc(topics, func(a, b kmsg.MetadataResponseTopic) int { return cmp.Compare(deref(a.Topic), deref(b.Topic)) })
	for _, t := range topics {
		if t.ErrorCode != 0 || t.Topic == nil {
			continue
		}
		for _, p := range t.Partitions {
			if _, ok := led[p.Leader]; !ok && p.ErrorCode == 0 && slices.Contains(nodes, p.Leader) {
				led[p.Leader] = partition{*t.Topic, p.Partition}
			}
		}
	}
	if _, ok := led[node]; !ok {
		return Identity{}, fmt.Sprintf("node %d leads no partition this client may see, to ask ListOffsets about", node)
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	byTopic := map[string]int{}
	leaderOf := map[partition]int32{}
	for _, n := range nodes {
		p, ok := led[n]
		if !ok {
			continue
		}
		leaderOf[p] = n
		i, ok := byTopic[p.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[p.topic] = i
			t := kmsg.NewListOffsetsRequestTopic()
			t.Topic = p.topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p.index
		rp.Timestamp = -1 // the latest offset: any leader has it
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp, _, err = request(req)
	if err != nil {
		return Identity{}, "ListOffsets failed: " + err.Error()
	}
	answered := int32(-1)
	var refusal error
	for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			n, asked := leaderOf[partition{t.Topic, p.Partition}]
			switch code := kerr.ErrorForCode(p.ErrorCode); {
			case !asked:
			case code == nil:
				answered = n
			case !errors.Is(code, kerr.NotLeaderForPartition) && refusal == nil:
				refusal = fmt.Errorf("ListOffsets of %s/%d: %w", t.Topic, p.Partition, code)
			}
		}
	}
	if id, ok := answeredAs(answered, node, "ListOffsets"); ok {
		return id, ""
	}
	if refusal != nil {
		return Identity{}, refusal.Error()
	}
	// It leads none of them: leadership may have moved since Metadata.
	return Identity{}, fmt.Sprintf("the endpoint leads none of the partitions asked about, %s/%d of node %d included", led[node].topic, led[node].index, node)
}

// answeredAs is the identity of an endpoint that method showed to be node
// answered (-1: none) when node was expected; ok false when it showed none.
func answeredAs(answered, node int32, method string) (id Identity, ok bool) {
	switch {
	case answered < 0:
		return Identity{}, false
	case answered == node:
		return Identity{Status: identityVerified, AnsweredAs: node, Method: method}, true
	}
	return Identity{Status: identityWrong, AnsweredAs: answered, Method: method}, true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
