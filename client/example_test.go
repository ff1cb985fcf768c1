package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/server"
)

// Example starts a three-node cluster in this process (real raft over TCP,
// real gRPC on 127.0.0.1), gives the client a single endpoint, and keeps
// writing through a leader failure without any change by the caller.
func Example() {
	endpoints, stopNode, cleanup := startExampleCluster()
	defer cleanup()

	c, err := client.New(client.Config{Endpoints: endpoints[:1], DialTimeout: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := c.Put(ctx, "greeting", []byte("hello")); err != nil {
		log.Fatal(err)
	}
	got, err := c.Get(ctx, "greeting") // linearizable
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s = %s\n", got.KV.Key, got.KV.Value)

	members, err := c.Members(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("members:", len(members))

	// Stop the leader: the next write finds the new one by itself. Had the
	// leader died while committing it, the client would have sent it again
	// under the same request id, and the cluster would apply it once.
	stopNode(got.Header.LeaderID)
	_, err = c.Put(ctx, "greeting", []byte("hello again"))
	switch {
	case errors.Is(err, client.ErrOutcomeUnknown):
		// Only when ctx ends before a retry could learn the outcome.
		fmt.Println("outcome unknown: read the key to find out")
	case err != nil:
		log.Fatal(err)
	}
	got, err = c.Get(ctx, "greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("after failover: %s = %s\n", got.KV.Key, got.KV.Value)

	if _, err := c.Delete(ctx, "greeting"); err != nil {
		log.Fatal(err)
	}
	_, err = c.Get(ctx, "greeting")
	fmt.Println("deleted:", errors.Is(err, client.ErrNotFound))
	// Output:
	// greeting = hello
	// members: 3
	// after failover: greeting = hello again
	// deleted: true
}

// startExampleCluster starts n1..n3 in temporary directories on free
// loopback ports and returns their client endpoints, a function that stops
// one node by id, and a cleanup that stops the rest.
func startExampleCluster() ([]string, func(id string), func()) {
	dir, err := os.MkdirTemp("", "raftkv-example-")
	if err != nil {
		log.Fatal(err)
	}
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	var initial []raftnode.Server
	var grpcAddrs []string
	for i := 1; i <= 3; i++ {
		initial = append(initial, raftnode.Server{ID: raftnode.NodeID(fmt.Sprintf("n%d", i)), RaftAddr: free()})
		grpcAddrs = append(grpcAddrs, free())
	}
	nodes := map[string]*server.Server{}
	for i, s := range initial {
		cfg := server.DefaultConfig()
		cfg.NodeID = string(s.ID)
		cfg.DataDir = filepath.Join(dir, cfg.NodeID)
		cfg.GRPCAddr = grpcAddrs[i]
		cfg.Raft.RaftBindAddr = s.RaftAddr
		cfg.Raft.Bootstrap = true
		cfg.Raft.InitialCluster = initial
		node, err := server.Start(cfg)
		if err != nil {
			log.Fatal(err)
		}
		nodes[cfg.NodeID] = node
	}
	// Wait until every node has registered its client address, so that a
	// client given one endpoint learns the others before that one fails.
	probe, err := client.New(client.Config{Endpoints: grpcAddrs})
	if err != nil {
		log.Fatal(err)
	}
	defer probe.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(30 * time.Second); ; <-tick.C {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ms, err := probe.Members(ctx)
		cancel()
		if err == nil && len(ms) == len(initial) && !slices.ContainsFunc(ms, func(m client.Member) bool { return m.GRPCAddr == "" }) {
			break
		}
		if time.Now().After(deadline) {
			log.Fatalf("members did not register their addresses: %v %v", ms, err)
		}
	}
	stop := func(id string) {
		if n, ok := nodes[id]; ok {
			_ = n.Close()
			delete(nodes, id)
		}
	}
	cleanup := func() {
		for id := range nodes {
			stop(id)
		}
		_ = os.RemoveAll(dir)
	}
	return grpcAddrs, stop, cleanup
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

// ExampleClient_CompareAndSwap increments a counter safely against other
// writers: read, compute, swap only if nobody wrote in between, else retry.
func ExampleClient_CompareAndSwap() {
	c, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:7001"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var old []byte // nil: the counter does not exist yet
		n := 0
		got, err := c.Get(ctx, "counter")
		switch {
		case err == nil:
			old = got.KV.Value
			if n, err = strconv.Atoi(string(old)); err != nil {
				log.Fatal(err)
			}
		case !errors.Is(err, client.ErrNotFound):
			log.Fatal(err)
		}
		swapped, err := c.CompareAndSwap(ctx, "counter", old, []byte(strconv.Itoa(n+1)))
		if err != nil {
			log.Fatal(err)
		}
		if swapped {
			fmt.Println("counter is now", n+1)
			return
		}
	}
}
