package manager

import (
	"strconv"
	"testing"
	"time"
)

// TestBucketsAtCapacity: with max keys tracked, a new key takes the place of one that has
// regained every attempt (the first to have done so), and is refused, with the time until one
// has, while none has.
func TestBucketsAtCapacity(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bs := newBuckets(2, time.Minute, 3)
	for _, k := range []string{"a", "b", "c"} {
		if _, ok := bs.take(k, now); !ok {
			t.Fatalf("take %s refused", k)
		}
		now = now.Add(time.Second)
	}
	if wait, ok := bs.take("d", now); ok || wait != 57*time.Second {
		t.Fatalf("a 4th key while none has regained every attempt: %v, %v; want refused for 57s (a's refill)", wait, ok)
	}
	bs.give("b") // a success: b is full again at once
	if _, ok := bs.take("d", now); !ok {
		t.Fatal("a 4th key after b regained every attempt was refused")
	}
	if _, tracked := bs.m["b"]; tracked || len(bs.m) != 3 {
		t.Errorf("tracked %d keys, b among them: %v; want 3, b forgotten", len(bs.m), tracked)
	}
	now = now.Add(57 * time.Second) // a is full again; c is not yet
	if _, ok := bs.take("e", now); !ok {
		t.Fatal("a 5th key once a regained every attempt was refused")
	}
	if _, tracked := bs.m["a"]; tracked {
		t.Error("a is still tracked; it was the one full again")
	}
	// c kept its state: one attempt left, then refused.
	if _, ok := bs.take("c", now); !ok {
		t.Error("c's last attempt was refused")
	}
	if _, ok := bs.take("c", now); ok {
		t.Error("c was given a third attempt within its refill: its bucket was reset")
	}
}

// BenchmarkThrottleFull is an attack from more sources than the throttle tracks, none of which
// regains its attempts: every login of a new source is refused. The cost of that refusal must
// not grow with the number of tracked sources (it scanned them all).
func BenchmarkThrottleFull(b *testing.B) {
	for _, n := range []int{4096, maxThrottled} {
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			bs := newBuckets(2, time.Hour, n)
			for i := range n {
				k := "10.0." + strconv.Itoa(i)
				bs.take(k, now)
				bs.take(k, now)
			}
			keys := make([]string, 1024)
			for i := range keys {
				keys[i] = "192.168." + strconv.Itoa(i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := bs.take(keys[i%len(keys)], now); ok {
					b.Fatal("a new source was admitted while every tracked one is throttled")
				}
				i++
			}
		})
	}
}
