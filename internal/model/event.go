package model

import (
	"fmt"
	"strings"
)

// ClassPrefix is the Java package prefix that the topic rule of docs/stratos-wire.md §1.2 strips.
const ClassPrefix = "org.apache.stratos.messaging.event."

// Event is a message carried on the bus. EventClass returns the event's class name relative to
// ClassPrefix, for example "topology.MemberActivatedEvent"; the topic follows from it.
type Event interface {
	EventClass() string
}

// Topic turns a relative class name ("topology.MemberActivatedEvent") into its MQTT topic
// ("topology/MemberActivatedEvent"). A fully-qualified class name is accepted too.
func Topic(class string) string {
	return strings.ReplaceAll(strings.TrimPrefix(class, ClassPrefix), ".", "/")
}

// ClassForTopic is the reverse of Topic: "topology/MemberActivatedEvent" gives
// "topology.MemberActivatedEvent".
func ClassForTopic(topic string) string {
	return strings.ReplaceAll(topic, "/", ".")
}

// TopicOf is the topic an event is published on.
func TopicOf(e Event) string { return Topic(e.EventClass()) }

// registry maps a relative class name to a constructor of a zero event.
var registry = map[string]func() Event{}

// register adds event constructors to the registry; it is called from init functions beside the
// event types.
func register(fs ...func() Event) {
	for _, f := range fs {
		c := f().EventClass()
		if _, dup := registry[c]; dup {
			panic(fmt.Sprintf("model: event class %s registered twice", c))
		}
		registry[c] = f
	}
}

// New returns a new zero event of the class (relative name), or false when the class is unknown.
func New(class string) (Event, bool) {
	f, ok := registry[strings.TrimPrefix(class, ClassPrefix)]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Classes lists every registered event class.
func Classes() []string {
	out := make([]string, 0, len(registry))
	for c := range registry {
		out = append(out, c)
	}
	return out
}
