/* path: output-versus-input overlap checks by resolved path, lexical path, device+inode and the
 * symlinks held by existing directories. See path.h. */
#include "path.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define PATH_MAX_HOPS 40

/* One path seen in every view: what the user wrote, resolved, lexical, and its identity. */
struct view {
	const char *given;
	char real[PATH_MAX]; /* symlinks followed */
	char lex[PATH_MAX];  /* folded only */
	bool exists;         /* stat(real) succeeded: id is valid */
	bool is_dir;
	struct stat id;
};

/* End of the component starting at s: the next '/' or the NUL. */
static const char *comp_end(const char *s)
{
	while (*s && *s != '/')
		s++;
	return s;
}

/* Appends one component to the folded absolute path buf (length *n; "" is the root), folding
 * "." and "..". -1 if it does not fit. */
static int fold_component(char *buf, size_t cap, size_t *n, const char *comp, size_t len)
{
	if (len == 0 || (len == 1 && comp[0] == '.'))
		return 0;
	if (len == 2 && comp[0] == '.' && comp[1] == '.') {
		while (*n > 0 && buf[--*n] != '/')
			;
		buf[*n] = '\0';
		return 0;
	}
	if (*n + 1 + len + 1 > cap)
		return -1;
	buf[(*n)++] = '/';
	memcpy(buf + *n, comp, len);
	*n += len;
	buf[*n] = '\0';
	return 0;
}

/* Folds every component of s onto buf. -1 if the result does not fit. */
static int fold_all(char *buf, size_t cap, size_t *n, const char *s)
{
	while (*s) {
		while (*s == '/')
			s++;
		const char *e = comp_end(s);
		if (fold_component(buf, cap, n, s, (size_t)(e - s)))
			return -1;
		s = e;
	}
	return 0;
}

/* buf = the working directory, folded; *n its length. */
static int start_at_cwd(char *buf, size_t cap, size_t *n, char *err, size_t errlen)
{
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		return err_set(err, errlen, PATH_ERR_IO, "cannot get the working directory: %s",
			       strerror(errno));
	*n = 0;
	buf[0] = '\0';
	if (fold_all(buf, cap, n, cwd))
		return err_set(err, errlen, PATH_ERR_ARG, "%s: path too long", cwd);
	return PATH_OK;
}

static int finish(char *out, size_t cap, const char *buf, const char *path, char *err,
		  size_t errlen)
{
	const char *r = buf[0] ? buf : "/";
	size_t len = strlen(r);
	if (len >= cap)
		return err_set(err, errlen, PATH_ERR_ARG, "%s: path too long", path);
	memcpy(out, r, len + 1);
	return PATH_OK;
}

int path_normalize(char *out, size_t cap, const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX] = "";
	size_t n = 0;
	int rc;
	if (!path || !*path)
		return err_set(err, errlen, PATH_ERR_ARG, "empty path");
	if (path[0] != '/' && (rc = start_at_cwd(buf, sizeof buf, &n, err, errlen)))
		return rc;
	if (fold_all(buf, sizeof buf, &n, path))
		return err_set(err, errlen, PATH_ERR_ARG, "%s: path too long", path);
	return finish(out, cap, buf, path, err, errlen);
}

/* The symlink cur (whose component starts at cur[save]) is replaced by its target: rest becomes
 * target + "/" + the components after it, and cur is cut back to its parent (or the root). */
static int follow_link(char *cur, size_t *n, size_t save, char *rest, size_t rest_cap,
		       const char *after, const char *path, char *err, size_t errlen)
{
	char target[PATH_MAX], next[PATH_MAX];
	ssize_t tl = readlink(cur, target, sizeof target - 1);
	if (tl <= 0)
		return err_set(err, errlen, PATH_ERR_IO, "%s: cannot read symlink %s: %s", path, cur,
			       tl < 0 ? strerror(errno) : "empty target");
	target[tl] = '\0';
	if ((size_t)snprintf(next, sizeof next, "%s/%s", target, after) >= sizeof next ||
	    strlen(next) >= rest_cap)
		return err_set(err, errlen, PATH_ERR_ARG, "%s: path too long", path);
	memcpy(rest, next, strlen(next) + 1);
	*n = target[0] == '/' ? 0 : save;
	cur[*n] = '\0';
	return PATH_OK;
}

int path_resolve(char *out, size_t cap, const char *path, char *err, size_t errlen)
{
	char cur[PATH_MAX] = "", rest[PATH_MAX];
	size_t n = 0;
	int rc, hops = 0;
	if (!path || !*path)
		return err_set(err, errlen, PATH_ERR_ARG, "empty path");
	if ((size_t)snprintf(rest, sizeof rest, "%s", path) >= sizeof rest)
		return err_set(err, errlen, PATH_ERR_ARG, "%s: path too long", path);
	/* getcwd is already free of symlinks */
	if (path[0] != '/' && (rc = start_at_cwd(cur, sizeof cur, &n, err, errlen)))
		return rc;
	const char *p = rest;
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = comp_end(p);
		size_t len = (size_t)(e - p), save = n;
		if (fold_component(cur, sizeof cur, &n, p, len))
			return err_set(err, errlen, PATH_ERR_ARG, "%s: path too long", path);
		p = e;
		if (n <= save) /* ".", ".." or empty: cur is still free of symlinks */
			continue;
		struct stat sb;
		if (lstat(cur, &sb)) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue; /* not there yet: kept as written */
			return err_set(err, errlen, PATH_ERR_IO, "%s: cannot inspect %s: %s", path, cur,
				       strerror(errno));
		}
		if (!S_ISLNK(sb.st_mode))
			continue;
		if (++hops > PATH_MAX_HOPS)
			return err_set(err, errlen, PATH_ERR_LOOP, "%s: too many levels of symlinks",
				       path);
		if ((rc = follow_link(cur, &n, save, rest, sizeof rest, e, path, err, errlen)))
			return rc;
		p = rest;
	}
	return finish(out, cap, cur, path, err, errlen);
}

static int view_init(struct view *v, const char *given, char *err, size_t errlen)
{
	int rc;
	v->given = given;
	if ((rc = path_resolve(v->real, sizeof v->real, given, err, errlen)) ||
	    (rc = path_normalize(v->lex, sizeof v->lex, given, err, errlen)))
		return rc;
	v->exists = stat(v->real, &v->id) == 0;
	v->is_dir = v->exists && S_ISDIR(v->id.st_mode);
	return PATH_OK;
}

/* Whether a is b or lies below it (both folded absolute paths). */
static bool is_under(const char *a, const char *b)
{
	size_t lb = strlen(b);
	if (!strcmp(b, "/"))
		return true;
	return !strncmp(a, b, lb) && (a[lb] == '\0' || a[lb] == '/');
}

static bool same_id(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Whether resolved path r or an existing ancestor of it has identity id. */
static bool chain_has(const char *r, const struct stat *id)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof buf, "%s", r);
	for (;;) {
		struct stat sb;
		if (stat(buf, &sb) == 0 && same_id(&sb, id))
			return true;
		char *s = strrchr(buf, '/');
		if (!s || !strcmp(buf, "/"))
			return false;
		s[s == buf] = '\0'; /* "/a" -> "/" */
	}
}

enum relation { REL_NONE, REL_SAME, REL_INSIDE, REL_CONTAINS };

/* How output o relates to input i, in every view. */
static enum relation relate(const struct view *o, const struct view *i)
{
	if (!strcmp(o->real, i->real) || !strcmp(o->lex, i->lex) ||
	    (o->exists && i->exists && same_id(&o->id, &i->id)))
		return REL_SAME;
	if (is_under(o->real, i->real) || is_under(o->lex, i->lex) ||
	    (i->exists && chain_has(o->real, &i->id)))
		return REL_INSIDE;
	if (is_under(i->real, o->real) || is_under(i->lex, o->lex) ||
	    (o->exists && chain_has(i->real, &o->id)))
		return REL_CONTAINS;
	return REL_NONE;
}

static const char *relation_words(enum relation r)
{
	switch (r) {
	case REL_SAME: return "is";
	case REL_INSIDE: return "lies inside";
	case REL_CONTAINS: return "contains";
	case REL_NONE: break;
	}
	return "?";
}

/* The symlink search of one existing directory tree: depth and entry budget bound the walk. */
struct walk {
	const struct view *other; /* the path no symlink may reach */
	long budget;              /* entries left to inspect */
	struct view target;       /* scratch: the current symlink's views */
	char link[PATH_MAX];      /* the offending symlink */
};

#define PATH_WALK_DEPTH 16

/* 1 if directory dir (depth levels below the start) holds, without following symlinks, a
 * symlink whose target is, contains or lies inside w->other; else 0. Unreadable parts are
 * skipped: the command itself would fail on them. */
static int walk_dir(struct walk *w, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int hit = 0;
	while (!hit && w->budget > 0 && (e = readdir(d))) {
		char child[PATH_MAX];
		struct stat sb;
		w->budget--;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (size_t)snprintf(child, sizeof child, "%s/%s", dir, e->d_name) >= sizeof child ||
		    lstat(child, &sb))
			continue;
		if (S_ISLNK(sb.st_mode)) {
			if (!view_init(&w->target, child, NULL, 0) &&
			    relate(&w->target, w->other) != REL_NONE) {
				memcpy(w->link, child, strlen(child) + 1);
				hit = 1;
			}
		} else if (S_ISDIR(sb.st_mode) && depth < PATH_WALK_DEPTH) {
			hit = walk_dir(w, child, depth + 1);
		}
	}
	closedir(d);
	return hit;
}

/* Whether directory view v holds a symlink reaching other (the link is left in w->link). */
static bool holds_link(struct walk *w, const struct view *v, const struct view *other)
{
	if (!v->is_dir)
		return false;
	w->other = other;
	w->budget = PATH_WALK_MAX;
	return walk_dir(w, v->real, 0) == 1;
}

/* The overlap reason for the pair (o, i), or PATH_OK. */
static int check_pair(struct walk *w, const struct view *o, const struct view *i, char *err,
		      size_t errlen)
{
	enum relation r = relate(o, i);
	if (r != REL_NONE) {
		bool same = !strcmp(o->real, o->lex) && !strcmp(i->real, i->lex);
		return err_set(err, errlen, PATH_ERR_OVERLAP,
			       "output '%s' %s input '%s'%s%s%s%s%s: refusing to write there", o->given,
			       relation_words(r), i->given, same ? "" : " (resolved: '",
			       same ? "" : o->real, same ? "" : "' and '", same ? "" : i->real,
			       same ? "" : "')");
	}
	if (holds_link(w, o, i))
		return err_set(err, errlen, PATH_ERR_OVERLAP,
			       "output '%s' holds symlink '%s' into input '%s': refusing to write there",
			       o->given, w->link, i->given);
	if (holds_link(w, i, o))
		return err_set(err, errlen, PATH_ERR_OVERLAP,
			       "input '%s' holds symlink '%s' to output '%s': refusing to write there",
			       i->given, w->link, o->given);
	return PATH_OK;
}

int path_check_outputs(const char *const *outputs, size_t n_out, const char *const *inputs,
		       size_t n_in, char *err, size_t errlen)
{
	/* three views of ~8 KB each: too much for small thread stacks */
	struct view *o = malloc(2 * sizeof *o);
	struct walk *w = malloc(sizeof *w);
	int rc = PATH_OK;
	if (!o || !w) {
		rc = err_set(err, errlen, PATH_ERR_NOMEM, "out of memory checking output paths");
		goto out;
	}
	struct view *in = o + 1;
	for (size_t a = 0; a < n_out && !rc; a++) {
		if (!outputs[a])
			continue;
		if ((rc = view_init(o, outputs[a], err, errlen)))
			break;
		for (size_t b = 0; b < n_in && !rc; b++) {
			if (!inputs[b])
				continue;
			if (!(rc = view_init(in, inputs[b], err, errlen)))
				rc = check_pair(w, o, in, err, errlen);
		}
	}
out:
	free(o);
	free(w);
	return rc;
}
