package task_test

import (
	"context"
	"fmt"

	"github.com/barrage-load/barrage/task"
)

// A program registers its functions before it starts the worker with
// workercli.Main. A plan task with "go: checkout" then runs checkout once
// per execution of each virtual user.
func Example() {
	task.Register("checkout", func(ctx context.Context, vu *task.VU) error {
		status, _, err := vu.Get(ctx, "http://127.0.0.1:8080/cart")
		if err != nil {
			return err
		}
		if status != 200 {
			return fmt.Errorf("cart returned status %d", status)
		}
		return nil
	})

	_, ok := task.Lookup("checkout")
	fmt.Println("checkout registered:", ok)
	// Output: checkout registered: true
}
