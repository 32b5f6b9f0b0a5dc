/* bench_static.c - the baseline of bench/menu: h2o 2.2.5 serving files.
 *
 *   se-bench-static ROOT [THREADS=2]
 *
 * Serves ROOT with h2o's own file handler on 127.0.0.1 (a free port, printed
 * as {"port":N}), one event loop per thread with its own SO_REUSEPORT
 * listener, the same shape as our gateway. bench/menu writes each menu JSON
 * the gateway returns into ROOT/api/v1/restaurants/<id>/menu, so both servers
 * answer the same URLs with the same bytes; the ratio of their throughput is
 * what the gateway's edge cache is judged by. Runs until SIGTERM.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

typedef struct static_loop {
    pthread_t thread;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int fd;
} static_loop;

static h2o_globalconf_t config;

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0) {
        perror("bench-static: listen");
        exit(1);
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    return ntohs(sa.sin_port);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    static_loop *l = listener->data;
    h2o_socket_t *sock;
    if (err != NULL || (sock = h2o_evloop_socket_accept(listener)) == NULL)
        return;
    h2o_accept(&l->accept_ctx, sock);
}

static void *loop_main(void *arg)
{
    static_loop *l = arg;
    h2o_context_init(&l->ctx, h2o_evloop_create(), &config);
    l->accept_ctx.ctx = &l->ctx;
    l->accept_ctx.hosts = config.hosts;
    h2o_socket_t *sock = h2o_evloop_socket_create(l->ctx.loop, l->fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = l;
    h2o_socket_read_start(sock, on_accept);
    for (;;)
        h2o_evloop_run(l->ctx.loop, INT32_MAX);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: se-bench-static ROOT [THREADS]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    if (threads < 1 || threads > 16)
        threads = 2;
    signal(SIGPIPE, SIG_IGN);
    h2o_config_init(&config);
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_file_register(path, argv[1], NULL, NULL, 0);

    static_loop loops[16];
    memset(loops, 0, sizeof(loops));
    loops[0].fd = listen_on(0);
    int port = bound_port(loops[0].fd);
    for (int i = 1; i < threads; i++)
        loops[i].fd = listen_on(port);
    for (int i = 0; i < threads; i++)
        pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]);
    printf("{\"port\":%d}\n", port);
    fflush(stdout);
    pause();
    return 0;
}
