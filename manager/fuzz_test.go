package manager

import (
	"testing"
)

// FuzzDecodeApplication feeds the application, group and subscription decoders outside bytes:
// they must not panic, and what decodes must validate without panicking.
func FuzzDecodeApplication(f *testing.F) {
	f.Add([]byte(`{"applicationId":"a","components":{"cartridges":[{"type":"php","cartridgeMin":"1","cartridgeMax":2,"subscribableInfo":{"alias":"x"}}],"groups":[{"name":"g","alias":"y","cartridges":[]}]}}`))
	f.Add([]byte(`{"name":"group6","groups":[{"name":"group7","cartridges":["tomcat1"]}],"cartridges":["tomcat2"],"dependencies":{"terminationBehaviour":"terminate-all"}}`))
	f.Add([]byte(`{"cartridgeType":"php","alias":"a","autoscalingPolicy":"p","deploymentPolicy":"d","min":"1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a applicationBean
		if decodeStrict(data, &a) == nil {
			_ = a.validate()
			a.walkCartridges(func(*cartridgeRef, string) {})
			_ = applicationRecord{Bean: a}.view()
		}
		var g cartridgeGroup
		if decodeStrict(data, &g) == nil {
			_ = g.validate()
		}
		var q subscriptionRequest
		if decodeStrict(data, &q) == nil {
			_ = q.validate()
		}
		_ = keyBefore(data, int64(len(data)/2))
	})
}
