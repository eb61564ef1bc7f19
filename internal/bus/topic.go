package bus

import (
	"fmt"
	"strings"
)

// validTopic checks a topic name for publishing (MQTT 3.1.1 §4.7): not empty, no wildcards,
// no NUL character.
func validTopic(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("empty topic: %w", ErrInvalidTopic)
	case len(topic) > 65535:
		return fmt.Errorf("topic of %d bytes: %w", len(topic), ErrInvalidTopic)
	case strings.ContainsAny(topic, "+#\x00"):
		return fmt.Errorf("topic %q has a wildcard or NUL: %w", topic, ErrInvalidTopic)
	}
	return nil
}

// validFilter checks a topic filter for subscribing: "+" stands alone in its level and "#" stands
// alone in the last level.
func validFilter(filter string) error {
	if filter == "" || len(filter) > 65535 || strings.IndexByte(filter, 0) >= 0 {
		return fmt.Errorf("filter %q: %w", filter, ErrInvalidTopic)
	}
	for rest := filter; ; {
		level, more, found := strings.Cut(rest, "/")
		if level != "+" && level != "#" && strings.ContainsAny(level, "+#") {
			return fmt.Errorf("filter %q: wildcard inside a level: %w", filter, ErrInvalidTopic)
		}
		if level == "#" && found {
			return fmt.Errorf("filter %q: # is not the last level: %w", filter, ErrInvalidTopic)
		}
		if !found {
			return nil
		}
		rest = more
	}
}

// match reports whether a topic matches a filter under the MQTT rules: "+" matches one level, "#"
// matches the parent level and any number of levels below it, and wildcards in the first level do
// not match topics that begin with "$". It does not allocate.
func match(filter, topic string) bool {
	if topic != "" && topic[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !fmore:
			return false
		case !tmore:
			return frest == "#" // "a/#" matches "a"
		}
		filter, topic = frest, trest
	}
}
