/*  hello-agent - a complete agentbus agent in C: a publisher and a consumer

    Build it with nothing but pkg-config:
        cc -o hello-agent hello-agent.c $(pkg-config --cflags --libs agentbus)
    Run a broker with the example topology, then the two roles:
        agentbusd --topology contrib/examples/hello/topology.yaml &
        ./hello-agent listen tcp://127.0.0.1:7780 3 &
        ./hello-agent greet  tcp://127.0.0.1:7780 3

    This file is in the public domain (CC0): copy it to start an agent. */

#include <agentbus.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* greeter: publishes `count` greetings, each with a small float32 tensor
   sent as an attachment without copying. */
static int
run_greeter (ab_agent_t *agent, int count)
{
    static const float scores[4] = {0.25f, 0.5f, 0.75f, 1.0f};
    for (int i = 1; i <= count; i++) {
        json_t *payload = json_pack ("{s:s}", "text", "hello, listener");
        ab_attachment_t attachment;
        int64_t shape[] = {4};
        /* Writes {"dtype":"float32","shape":[4],"frame":0} at "scores". */
        int rc =
            ab_attach_tensor (payload, "scores", 0, scores, AB_DTYPE_FLOAT32,
                              shape, 1, NULL, NULL, &attachment);
        ab_header_t header = {
            .type = "hello.greeting", .has_seq = true, .seq = i};
        if (rc == 0)
            rc = ab_agent_publish (agent, &header, payload, &attachment, 1);
        json_decref (payload);
        if (rc < 0) {
            const json_t *reject = ab_agent_last_reject (agent);
            fprintf (
                stderr, "greet: %s (%s)\n", ab_strerror (rc),
                reject ? json_string_value (json_object_get (reject, "message"))
                       : "no answer");
            return 1;
        }
        printf ("greeter: greeting %d routed to %d queue(s)\n", i, rc);
    }
    return 0;
}

/* listener: receives `count` greetings, prints and acknowledges each. */
static int
run_listener (ab_agent_t *agent, int count)
{
    for (int i = 0; i < count; i++) {
        ab_delivery_t *delivery = NULL;
        int rc = ab_agent_receive (agent, 10000, &delivery);
        if (rc < 0) {
            fprintf (stderr, "listen: %s\n", ab_strerror (rc));
            return 1;
        }
        const json_t *payload = ab_delivery_payload (delivery);
        const void *data = NULL;
        ab_dtype_t dtype;
        int64_t shape[1];
        size_t ndim = 0;
        float last = 0;
        if (ab_delivery_tensor (delivery, "scores", &data, &dtype, shape, 1,
                                &ndim) == 0 &&
            shape[0] > 0)
            last = ((const float *)data)[shape[0] - 1];
        printf ("listener: \"%s\" from %s (attempt %d, last score %.2f)\n",
                json_string_value (json_object_get (payload, "text")),
                ab_delivery_from (delivery), ab_delivery_attempt (delivery),
                last);
        rc = ab_agent_ack (agent, delivery);
        ab_delivery_destroy (&delivery);
        if (rc < 0)
            return 1;
    }
    return 0;
}

int
main (int argc, char *argv[])
{
    if (argc < 3 || (strcmp (argv[1], "greet") && strcmp (argv[1], "listen"))) {
        fprintf (stderr, "usage: %s greet|listen ENDPOINT [COUNT]\n", argv[0]);
        return 2;
    }
    bool greeter = strcmp (argv[1], "greet") == 0;
    char *end = NULL;
    long count = argc > 3 ? strtol (argv[3], &end, 10) : 3;
    if ((end && *end) || count < 1 || count > 1000000) {
        fprintf (stderr, "COUNT must be a number from 1 to 1000000\n");
        return 2;
    }
    ab_agent_options_t options = {.instance = "hello-agent"};
    ab_agent_t *agent =
        ab_agent_new (argv[2], greeter ? "greeter" : "listener", &options);
    if (!agent)
        return 1;
    int rc = ab_agent_connect (agent);
    if (rc < 0) {
        fprintf (stderr, "connect: %s\n", ab_strerror (rc));
        ab_agent_destroy (&agent);
        return 1;
    }
    printf ("%s: connected to %s\n", ab_agent_name (agent),
            ab_agent_topology (agent));
    int status = greeter ? run_greeter (agent, (int)count)
                         : run_listener (agent, (int)count);
    ab_agent_destroy (&agent);
    return status;
}
