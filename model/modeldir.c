/* modeldir: what to tell a user whose --model is not a model directory — the model directories
 * inside a parent directory, or the directory of a file (e.g. model.safetensors) given instead
 * of its directory. Shared by every command through model_inspect and text_open_model. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"

/* Whether dir/config.json is a regular file. */
static bool has_config(const char *dir)
{
	char path[4096];
	struct stat sb;
	int n = snprintf(path, sizeof path, "%s/config.json", dir);
	return n > 0 && (size_t)n < sizeof path && !stat(path, &sb) && S_ISREG(sb.st_mode);
}

/* Appends to hint the names of dir's subdirectories holding a config.json (sorted, at most 8). */
static void list_models(char *hint, size_t cap, const char *dir)
{
	char names[8][256], path[4096];
	int n = 0, more = 0;
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		int len = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || len < 0 || (size_t)len >= sizeof path || !has_config(path) ||
		    strlen(e->d_name) >= sizeof names[0])
			continue;
		if (n == 8) {
			more++;
			continue;
		}
		int at = n++;
		while (at > 0 && strcmp(names[at - 1], e->d_name) > 0) {
			memcpy(names[at], names[at - 1], sizeof names[0]);
			at--;
		}
		snprintf(names[at], sizeof names[at], "%s", e->d_name);
	}
	closedir(d);
	if (!n)
		return;
	size_t o = (size_t)snprintf(hint, cap, "; it holds the model director%s ", n > 1 ? "ies" : "y");
	for (int i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(hint + o, cap - o, "%s%s/%s", i ? ", " : "", dir, names[i]);
	if (more && o < cap)
		snprintf(hint + o, cap - o, " and %d more", more);
}

void model_dir_hint(char *hint, size_t cap, const char *dir)
{
	struct stat sb;
	if (!cap)
		return;
	hint[0] = '\0';
	if (stat(dir, &sb))
		return;
	if (S_ISDIR(sb.st_mode)) {
		if (!has_config(dir))
			list_models(hint, cap, dir);
		return;
	}
	const char *slash = strrchr(dir, '/');
	char parent[4096];
	int n = slash ? snprintf(parent, sizeof parent, "%.*s", slash == dir ? 1 : (int)(slash - dir), dir)
		      : snprintf(parent, sizeof parent, ".");
	if (n > 0 && (size_t)n < sizeof parent && has_config(parent))
		snprintf(hint, cap, "; it is a file: did you mean --model %s (its directory)?", parent);
	else
		snprintf(hint, cap, "; it is a file, not a directory");
}
