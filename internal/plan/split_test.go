package plan

import (
	"math"
	"reflect"
	"testing"
)

func TestSplitIntExamples(t *testing.T) {
	tests := []struct {
		name  string
		total int64
		n     int
		want  []int64
	}{
		{"ten over three gives the extra to the first", 10, 3, []int64{4, 3, 3}},
		{"501 over three is even", 501, 3, []int64{167, 167, 167}},
		{"502 over three gives one extra", 502, 3, []int64{168, 167, 167}},
		{"two over five leaves the last parts empty", 2, 5, []int64{1, 1, 0, 0, 0}},
		{"zero over two is all zero", 0, 2, []int64{0, 0}},
		{"maximum int64 over one is itself", math.MaxInt64, 1, []int64{math.MaxInt64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitInt(tt.total, tt.n); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitInt(%d, %d) = %v, want %v", tt.total, tt.n, got, tt.want)
			}
		})
	}
}

func TestSplitHelpersSumExactly(t *testing.T) {
	intTotals := []int64{0, 1, 2, 7, 10, 99, 100, 501, 502, 1000, 123457, math.MaxInt64}
	floatTotals := []float64{0, 0.1, 0.5, 1, 3.3, 4, 10, 333.3333, 1e9 + 0.7}
	for n := 1; n <= 50; n++ {
		for _, total := range intTotals {
			parts := SplitInt(total, n)
			var sum int64
			for _, part := range parts {
				sum += part
			}
			if len(parts) != n || sum != total {
				t.Errorf("SplitInt(%d, %d) = %v: %d parts summing to %d", total, n, parts, len(parts), sum)
			}
		}
		for _, total := range floatTotals {
			parts := SplitFloat(total, n)
			var sum float64
			for _, part := range parts {
				sum += part
			}
			if len(parts) != n || sum != total {
				t.Errorf("SplitFloat(%v, %d) = %v: %d parts summing to %v", total, n, parts, len(parts), sum)
			}
		}
	}
}

func TestSplitPanicsOnInvalidCount(t *testing.T) {
	tests := []struct {
		name  string
		split func()
	}{
		{"plan split into zero shares", func() { (&Plan{Users: 1}).Split(0) }},
		{"SplitInt into negative parts", func() { SplitInt(5, -1) }},
		{"SplitFloat into zero parts", func() { SplitFloat(5, 0) }},
		{"SplitInt of a negative total", func() { SplitInt(-5, 2) }},
		{"SplitFloat of NaN", func() { SplitFloat(math.NaN(), 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.split()
		})
	}
}

func TestSplitExamples(t *testing.T) {
	t.Run("10 users over 3 workers", func(t *testing.T) {
		shares := (&Plan{Users: 10, SpawnRate: 10}).Split(3)
		assertUsers(t, shares, []int{4, 3, 3})
	})

	t.Run("spawn rate 4 over 10 workers", func(t *testing.T) {
		shares := (&Plan{Users: 100, SpawnRate: 4}).Split(10)
		for _, s := range shares {
			if math.Abs(s.SpawnRate-0.4) > 1e-12 {
				t.Errorf("share %d spawn rate = %v, want 0.4", s.Index, s.SpawnRate)
			}
		}
	})

	t.Run("501 iterations over 3 workers", func(t *testing.T) {
		shares := (&Plan{Users: 300, SpawnRate: 300, Iterations: 501}).Split(3)
		for _, s := range shares {
			if s.Iterations != 167 {
				t.Errorf("share %d iterations = %d, want 167", s.Index, s.Iterations)
			}
		}
	})

	t.Run("iterations follow uneven users", func(t *testing.T) {
		shares := (&Plan{Users: 10, SpawnRate: 10, Iterations: 501}).Split(3)
		got := []int64{shares[0].Iterations, shares[1].Iterations, shares[2].Iterations}
		if want := []int64{201, 150, 150}; !reflect.DeepEqual(got, want) {
			t.Errorf("iterations = %v, want %v", got, want)
		}
	})

	t.Run("more workers than users", func(t *testing.T) {
		shares := (&Plan{Users: 2, SpawnRate: 1, MaxRPS: 10, Iterations: 9}).Split(4)
		assertUsers(t, shares, []int{1, 1, 0, 0})
		for _, s := range shares[2:] {
			if s.SpawnRate != 0 || s.MaxRPS != 0 || s.Iterations != 0 {
				t.Errorf("idle share %d = %+v, want no rate, cap or iterations", s.Index, s)
			}
		}
	})

	t.Run("fewer iterations than workers", func(t *testing.T) {
		shares := (&Plan{Users: 10, SpawnRate: 10, Iterations: 2}).Split(3)
		assertUsers(t, shares, []int{5, 5, 0})
		if shares[0].Iterations != 1 || shares[1].Iterations != 1 || shares[2].Iterations != 0 {
			t.Errorf("shares = %+v, want iterations 1, 1, 0", shares)
		}
	})

	t.Run("shares carry index and count", func(t *testing.T) {
		for i, s := range (&Plan{Users: 5, SpawnRate: 5}).Split(5) {
			if s.Index != i || s.Count != 5 {
				t.Errorf("share %d has Index %d and Count %d", i, s.Index, s.Count)
			}
		}
	})
}

func TestSplitSumsExactlyForManyPlans(t *testing.T) {
	plans := []Plan{
		{Users: 1, SpawnRate: 1},
		{Users: 3, SpawnRate: 0.5, MaxRPS: 7.7, Iterations: 1},
		{Users: 10, SpawnRate: 4, Iterations: 501},
		{Users: 17, SpawnRate: 3.3, MaxRPS: 100, Iterations: 3},
		{Users: 100, SpawnRate: 4, MaxRPS: 500, Iterations: 10000},
		{Users: 1000, SpawnRate: 33.3, MaxRPS: 0.9, Iterations: 47},
		{Users: 12345, SpawnRate: 1e3, Iterations: math.MaxInt64},
	}
	for _, p := range plans {
		for n := 1; n <= 50; n++ {
			checkSplit(t, p, p.Split(n))
		}
	}
}

// checkSplit asserts that shares add up exactly to plan p and that no
// share without users gets a rate, cap or iterations.
func checkSplit(t *testing.T, p Plan, shares []Share) {
	t.Helper()
	var users int
	var spawnRate, maxRPS float64
	var iterations int64
	for _, s := range shares {
		users += s.Users
		spawnRate += s.SpawnRate
		maxRPS += s.MaxRPS
		iterations += s.Iterations

		if s.Users == 0 && (s.SpawnRate != 0 || s.MaxRPS != 0 || s.Iterations != 0) {
			t.Errorf("plan %+v over %d: share %+v has no users but a rate, cap or iterations", p, len(shares), s)
		}
		if s.Users > 0 && (s.SpawnRate <= 0 || p.MaxRPS > 0 && s.MaxRPS <= 0) {
			t.Errorf("plan %+v over %d: share %+v has users but no rate or cap", p, len(shares), s)
		}
		if s.Users > 0 && p.Iterations > 0 && s.Iterations == 0 {
			t.Errorf("plan %+v over %d: share %+v has users but no iterations, which means unlimited", p, len(shares), s)
		}
	}
	if users != p.Users || spawnRate != p.SpawnRate || maxRPS != p.MaxRPS || iterations != p.Iterations {
		t.Errorf("plan %+v over %d: shares sum to users %d, spawn rate %v, max rps %v, iterations %d",
			p, len(shares), users, spawnRate, maxRPS, iterations)
	}
}

func assertUsers(t *testing.T, shares []Share, want []int) {
	t.Helper()
	got := make([]int, len(shares))
	for i, s := range shares {
		got[i] = s.Users
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("users = %v, want %v", got, want)
	}
}
