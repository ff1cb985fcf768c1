package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/raftkv/raftkv/client"
)

// Example writes and reads a key on a three-node cluster started with
// scripts/start-cluster.sh. It has no Output line because it needs a running
// cluster; it is compiled by go test but not run.
func Example() {
	c, err := client.New(client.Config{
		Endpoints: []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	put, err := c.Put(ctx, "greeting", []byte("hello"))
	switch {
	case errors.Is(err, client.ErrOutcomeUnknown):
		// The write may or may not have been applied: read it back to find out.
		log.Printf("put outcome unknown: %v", err)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("committed at index", put.Index)
	}

	got, err := c.Get(ctx, "greeting")
	if errors.Is(err, client.ErrNotFound) {
		fmt.Println("no greeting")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s = %s (leader %s)\n", got.KV.Key, got.KV.Value, c.Leader())
}

// ExampleClient_List lists keys under a prefix, at most ten of them.
func ExampleClient_List() {
	c, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:7001"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.List(ctx, "users/", client.WithLimit(10))
	if err != nil {
		log.Fatal(err)
	}
	for _, kv := range resp.KVs {
		fmt.Printf("%s = %s\n", kv.Key, kv.Value)
	}
	if resp.More {
		fmt.Println("… more keys")
	}
}
