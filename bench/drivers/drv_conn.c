/* drv_conn.c - non-blocking TCP connections on the fleet's epoll instance:
 * connect, write-or-queue, flush on EPOLLOUT, close. EPOLLIN stays
 * registered for a connection's whole life (level-triggered); EPOLLOUT only
 * while connecting or while bytes wait, so an idle connection costs no
 * wake-ups. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers.h"

static int set_out(drv_fleet *f, drv_conn *c, bool on)
{
    if (c->want_out == on)
        return 0;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.ptr = c};
    if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        return -1;
    c->want_out = on;
    return 0;
}

int drv_conn_open(drv_fleet *f, drv_conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&f->addr, sizeof f->addr) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    c->fd = fd;
    c->want_out = true;
    return 0;
}

int drv_conn_connected(drv_fleet *f, drv_conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -1;
    if (err != 0) {
        errno = err;
        return -1;
    }
    return set_out(f, c, c->pending != NULL);
}

int drv_conn_write(drv_fleet *f, drv_conn *c, const void *p, size_t n)
{
    if (c->pending) { /* keep order: append behind what waits */
        size_t left = c->pending_len - c->pending_off;
        char *buf = malloc(left + n);
        if (!buf)
            return -1;
        memcpy(buf, c->pending + c->pending_off, left);
        memcpy(buf + left, p, n);
        free(c->pending);
        c->pending = buf;
        c->pending_off = 0;
        c->pending_len = (uint32_t)(left + n);
        return 0;
    }
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        w = 0;
    }
    if ((size_t)w == n)
        return 0;
    c->pending = malloc(n - (size_t)w);
    if (!c->pending)
        return -1;
    memcpy(c->pending, (const char *)p + w, n - (size_t)w);
    c->pending_off = 0;
    c->pending_len = (uint32_t)(n - (size_t)w);
    return set_out(f, c, true);
}

int drv_conn_flush(drv_fleet *f, drv_conn *c)
{
    while (c->pending) {
        ssize_t w = send(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off,
                         MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        c->pending_off += (uint32_t)w;
        if (c->pending_off == c->pending_len) {
            free(c->pending);
            c->pending = NULL;
        }
    }
    return set_out(f, c, false);
}

void drv_conn_close(drv_fleet *f, drv_conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->want_out = false;
    free(c->pending);
    c->pending = NULL;
}
