package bus

import (
	"errors"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		topic  string
		want   bool
	}{
		{name: "exact", filter: "topology/MemberActivatedEvent", topic: "topology/MemberActivatedEvent", want: true},
		{name: "exact mismatch", filter: "topology/MemberActivatedEvent", topic: "topology/MemberStartedEvent"},
		{name: "hash", filter: "topology/#", topic: "topology/MemberActivatedEvent", want: true},
		{name: "hash deep", filter: "application/#", topic: "application/signup/ApplicationSignUpAddedEvent", want: true},
		{name: "hash matches parent", filter: "summarized-health-stats/#", topic: "summarized-health-stats", want: true},
		{name: "hash alone", filter: "#", topic: "a/b/c", want: true},
		{name: "hash other root", filter: "topology/#", topic: "tenant/TenantCreatedEvent"},
		{name: "hash prefix is not a level", filter: "topo/#", topic: "topology/X"},
		{name: "plus", filter: "instance/+/InstanceStartedEvent", topic: "instance/status/InstanceStartedEvent", want: true},
		{name: "plus one level only", filter: "instance/+", topic: "instance/status/InstanceStartedEvent"},
		{name: "plus empty level", filter: "a/+/c", topic: "a//c", want: true},
		{name: "longer filter", filter: "a/b/c", topic: "a/b"},
		{name: "longer topic", filter: "a/b", topic: "a/b/c"},
		{name: "sys hidden from hash", filter: "#", topic: "$SYS/broker/uptime"},
		{name: "sys hidden from plus", filter: "+/broker/uptime", topic: "$SYS/broker/uptime"},
		{name: "sys explicit", filter: "$SYS/#", topic: "$SYS/broker/uptime", want: true},
		{name: "trailing slash", filter: "a/+", topic: "a/", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validFilter(tt.filter); err != nil {
				t.Fatalf("validFilter(%q) = %v", tt.filter, err)
			}
			if got := match(tt.filter, tt.topic); got != tt.want {
				t.Errorf("match(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
			}
		})
	}
}

func TestValidFilter(t *testing.T) {
	for _, f := range []string{"", "a/#/b", "a#", "a/b+", "+a", "a\x00"} {
		if err := validFilter(f); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("validFilter(%q) = %v, want ErrInvalidTopic", f, err)
		}
	}
	for _, f := range []string{"#", "+", "a/+/b", "/", "a//b", "+/+/#"} {
		if err := validFilter(f); err != nil {
			t.Errorf("validFilter(%q) = %v", f, err)
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		match("topology/+/#", "topology/MemberActivatedEvent/x")
	})
	if n != 0 {
		t.Errorf("match allocates %v times", n)
	}
}

// FuzzMatch checks that match never panics and that a valid topic matches itself, "#" and the
// filter with its first level replaced by "+".
func FuzzMatch(f *testing.F) {
	f.Add("topology/#", "topology/MemberActivatedEvent")
	f.Add("a/+/c", "a//c")
	f.Add("#", "$SYS/x")
	f.Fuzz(func(t *testing.T, filter, topic string) {
		match(filter, topic)
		if validTopic(topic) != nil {
			return
		}
		if !match(topic, topic) {
			t.Errorf("%q does not match itself", topic)
		}
		if topic[0] != '$' && !match("#", topic) {
			t.Errorf("# does not match %q", topic)
		}
	})
}
