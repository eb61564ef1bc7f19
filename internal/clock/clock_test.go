package clock

import (
	"testing"
	"time"
)

// TestManual: a ticker fires once Advance passes its tick, holds at most one pending tick like
// time.Ticker, and a stopped ticker does not fire.
func TestManual(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	m := NewManual(t0)
	tk, stopped := m.NewTicker(10*time.Second), m.NewTicker(time.Second)
	stopped.Stop()
	m.Advance(9 * time.Second)
	select {
	case <-tk.C():
		t.Fatal("ticked before its time")
	default:
	}
	m.Advance(25 * time.Second) // passes three ticks: one is kept
	if got := <-tk.C(); !got.Equal(t0.Add(34 * time.Second)) {
		t.Errorf("tick at %v, want the clock's time %v", got, t0.Add(34*time.Second))
	}
	select {
	case <-tk.C():
		t.Error("more than one pending tick")
	case <-stopped.C():
		t.Error("a stopped ticker fired")
	default:
	}
	if !m.Now().Equal(t0.Add(34 * time.Second)) {
		t.Errorf("Now = %v", m.Now())
	}
	m.Advance(6 * time.Second) // the next tick is due at 40 s
	select {
	case <-tk.C():
	default:
		t.Error("no tick at 40 s")
	}
}

// Set moves the clock to a time: forward it fires the due tickers as Advance does, back it fires
// none.
func TestManualSet(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	m := NewManual(t0)
	tk := m.NewTicker(time.Second)
	m.Set(t0.Add(1500 * time.Millisecond))
	if got := m.Now(); !got.Equal(t0.Add(1500 * time.Millisecond)) {
		t.Errorf("Now after Set = %v", got)
	}
	select {
	case <-tk.C():
	default:
		t.Error("Set past the tick did not fire the ticker")
	}
	m.Set(t0)
	select {
	case got := <-tk.C():
		t.Errorf("Set back fired the ticker at %v", got)
	default:
	}
	if !m.Now().Equal(t0) {
		t.Errorf("Now after Set back = %v, want %v", m.Now(), t0)
	}
}
