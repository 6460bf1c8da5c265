package plan

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Share is one worker's part of the plan.
type Share struct {
	// Index is the position of this share, from 0 to Count-1.
	Index int `json:"index" msgpack:"index"`
	// Count is how many shares the plan was split into.
	Count int `json:"count" msgpack:"count"`
	// Users is the number of virtual users this share runs. It may be 0.
	Users int `json:"users" msgpack:"users"`
	// SpawnRate is the number of users this share starts per second.
	SpawnRate float64 `json:"spawn_rate" msgpack:"spawn_rate"`
	// MaxRPS caps this share's requests per second, or is 0 for no cap.
	MaxRPS float64 `json:"max_rps" msgpack:"max_rps"`
	// Part is this share's part of the fleet's arrival rate in an
	// open-model plan, from 0 to 1; the parts of all shares add up to 1.
	// It is 0 in a closed-model plan.
	Part float64 `json:"part,omitempty" msgpack:"part,omitempty"`
	// Iterations is the exact number of task executions for this share,
	// or 0 for no limit when the plan sets none. A share with users
	// always has at least one iteration when the plan sets iterations.
	Iterations int64 `json:"iterations" msgpack:"iterations"`
}

// Split divides the plan into n shares whose users, spawn rates, request
// caps and iterations add up exactly to the plan's.
//
// Users are divided as evenly as possible, earlier shares taking the
// extra users. Spawn rate, max_rps, iterations and the parts of an
// open-model arrival rate are divided in proportion to each share's users, so a share with no users gets none of
// them. Shares without users occur when n exceeds the users. They also
// occur when the plan sets fewer iterations than n, because then only as
// many shares as there are iterations get users. A share with users and
// 0 iterations would otherwise mean "no limit".
//
// Split expects a plan returned by Parse. It panics if n < 1, and if the
// plan's SpawnRate or MaxRPS is negative, infinite or NaN.
func (p *Plan) Split(n int) []Share {
	if n < 1 {
		panic(fmt.Sprintf("plan: Split called with n = %d; n must be 1 or more", n))
	}

	active := int64(n)
	active = min(active, max(int64(p.Users), 0))
	if p.Iterations > 0 {
		active = min(active, p.Iterations)
	}
	users := make([]int64, n)
	if active > 0 {
		copy(users, SplitInt(int64(max(p.Users, 0)), int(active)))
	}

	spawnRates := splitFloatByWeight(p.SpawnRate, users)
	maxRPS := splitFloatByWeight(p.MaxRPS, users)
	parts := make([]float64, n)
	if p.Rate > 0 {
		parts = splitFloatByWeight(1, users)
	}
	iterations := make([]int64, n)
	if p.Iterations > 0 {
		iterations = splitIntByWeight(p.Iterations, users)
	}

	shares := make([]Share, n)
	for i := range shares {
		shares[i] = Share{
			Index:      i,
			Count:      n,
			Users:      int(users[i]),
			SpawnRate:  spawnRates[i],
			MaxRPS:     maxRPS[i],
			Part:       parts[i],
			Iterations: iterations[i],
		}
	}
	return shares
}

// SplitInt divides total into n parts that differ by at most 1 and add up
// to total, giving the extra units to the earliest parts: 10 over 3 is
// 4, 3, 3. It panics if n < 1 or total < 0.
func SplitInt(total int64, n int) []int64 {
	return splitIntByWeight(total, equalWeights(n))
}

// SplitFloat divides total into n equal parts whose sum is exactly total,
// the last part absorbing rounding error. It panics if n < 1 or if total
// is negative, infinite or NaN.
func SplitFloat(total float64, n int) []float64 {
	return splitFloatByWeight(total, equalWeights(n))
}

// equalWeights returns n weights of 1.
func equalWeights(n int) []int64 {
	if n < 1 {
		panic(fmt.Sprintf("plan: split into %d parts; n must be 1 or more", n))
	}
	weights := make([]int64, n)
	for i := range weights {
		weights[i] = 1
	}
	return weights
}

// splitIntByWeight divides total in proportion to weights by the largest
// remainder method: each part gets the whole part of its quota, and the
// units left over go to the parts with the largest fractional remainders,
// earlier parts first on ties. Parts with weight 0 get 0. When all
// weights are 0 every part is 0. Weights must be 0 or more.
func splitIntByWeight(total int64, weights []int64) []int64 {
	if total < 0 {
		panic(fmt.Sprintf("plan: split a negative total %d", total))
	}
	parts := make([]int64, len(weights))
	var sum uint64
	for _, w := range weights {
		sum += uint64(w)
	}
	if sum == 0 {
		return parts
	}

	remainders := make([]uint64, len(weights))
	left := total
	for i, w := range weights {
		// total*w/sum can exceed 64 bits before the division, so compute
		// it in 128 bits. The quotient fits because w <= sum.
		hi, lo := bits.Mul64(uint64(total), uint64(w))
		q, r := bits.Div64(hi, lo, sum)
		parts[i], remainders[i] = int64(q), r
		left -= int64(q)
	}

	order := make([]int, len(weights))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(remainders[b], remainders[a])
	})
	for _, i := range order[:left] {
		parts[i]++
	}
	return parts
}

// splitFloatByWeight divides total in proportion to weights. Every part
// but the last with a weight above 0 is total*weight/sum, and that last
// part is total minus the others, so the parts add up to exactly total
// when summed in order. Parts with weight 0 get 0. When all weights are 0
// every part is 0. Weights must be 0 or more.
func splitFloatByWeight(total float64, weights []int64) []float64 {
	if !(total >= 0) || math.IsInf(total, 1) {
		panic(fmt.Sprintf("plan: split an invalid total %v; it must be finite and 0 or more", total))
	}
	parts := make([]float64, len(weights))
	var weightSum int64
	last := -1
	for i, w := range weights {
		weightSum += w
		if w > 0 {
			last = i
		}
	}
	if last < 0 {
		return parts
	}

	var sum float64
	for i := 0; i < last; i++ {
		parts[i] = total * float64(weights[i]) / float64(weightSum)
		sum += parts[i]
	}
	parts[last] = lastPart(total, sum)
	return parts
}

// lastPart returns total-sum, nudged by a few units in the last place
// where rounding would make sum+part differ from total, and never below 0.
func lastPart(total, sum float64) float64 {
	part := total - sum
	for range 4 {
		switch got := sum + part; {
		case got > total:
			part = math.Nextafter(part, math.Inf(-1))
		case got < total:
			part = math.Nextafter(part, math.Inf(1))
		default:
			return max(part, 0)
		}
	}
	return max(part, 0)
}
