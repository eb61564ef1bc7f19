package kubernetes

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// BenchmarkClusterHasPods is the check Terminate makes after each pod it deletes, before it
// removes the services of a cluster left without pods: an undeploy makes it once per member.
func BenchmarkClusterHasPods(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			c := &conn{pods: cache.NewSharedIndexInformer(&cache.ListWatch{}, &corev1.Pod{}, 0, podIndexers)}
			for i := range n {
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("pod-%d", i),
					Labels: map[string]string{LabelCluster: fmt.Sprintf("cluster-%d", i%100)}}}
				if err := c.pods.GetStore().Add(p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if c.clusterHasPods("gone") {
					b.Fatal("a cluster without pods has pods")
				}
			}
		})
	}
}
