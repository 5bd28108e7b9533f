/*
 * alloc-watch.so: says so on stderr when a tool's memory allocation fails.
 *
 * Every tool of a run may map no more than the run's memory cap (RLIMIT_AS, see
 * src/core/execution/memory.py). A tool that hits it does not always say "out of memory": an
 * allocation inside OpenMS's XML parser that fails comes out as "Parsing error: '' ... Unable to
 * read file", and the scientist would be told that the file is broken. run-as-tool preloads this
 * library into every tool (LD_PRELOAD): the first allocation that fails writes one line,
 *
 *   openms-run: out of memory: an allocation of N bytes failed
 *
 * which the app finds in the tool's output (memory.OUT_OF_MEMORY_TEXT) and reports as a memory
 * failure, whatever the tool printed after it. Nothing else changes: each call goes straight to
 * glibc's own allocator (its exported __libc_* entry points), and the line is written with
 * write(2), which allocates nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static volatile int reported = 0;

static void report(size_t size) {
    char line[96] = "openms-run: out of memory: an allocation of ";
    char digits[24];
    size_t at = 44, n = 0;
    int saved = errno;
    if (reported) return;
    reported = 1;
    do {
        digits[n++] = (char)('0' + size % 10);
        size /= 10;
    } while (size && n < sizeof digits);
    while (n) line[at++] = digits[--n];
    for (const char *tail = " bytes failed\n"; *tail; tail++) line[at++] = *tail;
    if (write(STDERR_FILENO, line, at) < 0) { /* nothing more to do */
    }
    errno = saved;
}

void *malloc(size_t size) {
    void *p = __libc_malloc(size);
    if (!p && size) report(size);
    return p;
}

void *calloc(size_t count, size_t size) {
    void *p = __libc_calloc(count, size);
    if (!p && count && size) report(size > SIZE_MAX / count ? SIZE_MAX : count * size);
    return p;
}

void *realloc(void *ptr, size_t size) {
    void *p = __libc_realloc(ptr, size);
    if (!p && size) report(size);
    return p;
}

void *memalign(size_t alignment, size_t size) {
    void *p = __libc_memalign(alignment, size);
    if (!p && size) report(size);
    return p;
}

void *aligned_alloc(size_t alignment, size_t size) {
    return memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    void *p;
    if (alignment < sizeof(void *) || (alignment & (alignment - 1))) return EINVAL;
    p = __libc_memalign(alignment, size);
    if (!p && size) {
        report(size);
        return ENOMEM;
    }
    *out = p;
    return 0;
}
