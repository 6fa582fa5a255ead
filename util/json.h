/* json: the one door to cJSON (only json.c includes its header). Parsing with typed, range-checked
 * getters shared by config.json, tokenizer.json, safetensors headers and policy checkpoints, and
 * building documents for every JSON yopo writes (reports, --json output, logs, metadata).
 *
 * Values are cJSON items, opaque here. Getters follow err.h: 0 or a negative json_error with a
 * one-line reason naming `where` and the key; outputs are written only on success. */
#ifndef YOPO_JSON_H
#define YOPO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cJSON; /* opaque */

enum json_type {
	JSON_TYPE_INVALID,
	JSON_TYPE_NULL,
	JSON_TYPE_BOOL,
	JSON_TYPE_NUMBER,
	JSON_TYPE_STRING,
	JSON_TYPE_ARRAY,
	JSON_TYPE_OBJECT,
};

enum json_error {
	JSON_OK = 0,
	JSON_ERR_SYNTAX = -1,  /* not valid JSON */
	JSON_ERR_MISSING = -2, /* a required key is absent */
	JSON_ERR_TYPE = -3,    /* a value of the wrong JSON type (or not an integer) */
	JSON_ERR_RANGE = -4,   /* a number outside the allowed range */
	JSON_ERR_NOMEM = -5,
};

/* Parses exactly len bytes (no NUL needed; trailing garbage is an error). NULL on a syntax error
 * or out of memory. */
struct cJSON *json_parse(const char *text, size_t len);

/* Frees a document (or a detached item); NULL is a no-op. */
void json_free(struct cJSON *item);

enum json_type json_type(const struct cJSON *item);
const char *json_type_name(enum json_type t);

/* Member key of obj (case-sensitive, first match); NULL if absent or obj is not an object. */
const struct cJSON *json_get(const struct cJSON *obj, const char *key);

/* Number of elements of an array or members of an object (0 otherwise). */
int json_count(const struct cJSON *item);

/* Element i of an array (NULL if out of range). */
const struct cJSON *json_at(const struct cJSON *arr, int i);

/* First child of an array or object and the next sibling: iteration in document order, which
 * sees duplicate keys too. */
const struct cJSON *json_child(const struct cJSON *item);
const struct cJSON *json_next(const struct cJSON *item);

/* Key of an object member (NULL for array elements). */
const char *json_key(const struct cJSON *item);

/* Scalar values; 0 / NULL / false when the item is of another type. */
double json_number(const struct cJSON *item);
const char *json_string(const struct cJSON *item);
bool json_bool(const struct cJSON *item);

/* Whether a number item holds an integer value within [min, max] (exactly representable). */
bool json_is_integer(const struct cJSON *item, double min, double max);

/* Typed getters of member key of obj; `where` prefixes the message as "where: " ("config.json",
 * "trained_on[1]"; NULL or "" for none). A missing key is JSON_ERR_MISSING ("missing field
 * \"key\"") unless the getter has a default (the *_or forms return def). A wrong type is
 * JSON_ERR_TYPE, a value outside [min, max] JSON_ERR_RANGE ("... is out of range [min, max]"). */
int json_get_int(long *out, const struct cJSON *obj, const char *key, long min, long max,
		 const char *where, char *err, size_t errlen);
int json_get_int_or(long *out, const struct cJSON *obj, const char *key, long def, long min,
		    long max, const char *where, char *err, size_t errlen);
int json_get_double(double *out, const struct cJSON *obj, const char *key, double min, double max,
		    const char *where, char *err, size_t errlen);
int json_get_double_or(double *out, const struct cJSON *obj, const char *key, double def,
		       double min, double max, const char *where, char *err, size_t errlen);
int json_get_string(const char **out, const struct cJSON *obj, const char *key, const char *where,
		    char *err, size_t errlen);
int json_get_bool_or(bool *out, const struct cJSON *obj, const char *key, bool def,
		     const char *where, char *err, size_t errlen);
/* An array member; *n receives its length. */
int json_get_array(const struct cJSON **out, int *n, const struct cJSON *obj, const char *key,
		   const char *where, char *err, size_t errlen);
int json_get_object(const struct cJSON **out, const struct cJSON *obj, const char *key,
		    const char *where, char *err, size_t errlen);

/* Building. Every add returns the new item (NULL when out of memory; the parent is unchanged);
 * key is ignored when the parent is an array. Strings are copied. */
struct cJSON *json_new_object(void);
struct cJSON *json_new_array(void);
struct cJSON *json_add_object(struct cJSON *parent, const char *key);
struct cJSON *json_add_array(struct cJSON *parent, const char *key);
struct cJSON *json_add_number(struct cJSON *parent, const char *key, double v);
struct cJSON *json_add_string(struct cJSON *parent, const char *key, const char *s); /* NULL s: null */
struct cJSON *json_add_bool(struct cJSON *parent, const char *key, bool v);
struct cJSON *json_add_null(struct cJSON *parent, const char *key);
/* An unsigned 64-bit integer written with all its digits (beyond a double's 53 bits). */
struct cJSON *json_add_uint64(struct cJSON *parent, const char *key, uint64_t v);
/* An array of n integers. */
struct cJSON *json_add_int_array(struct cJSON *parent, const char *key, const int *v, int n);

/* Sets member key of object obj to the number v, replacing the first member of that name in
 * place (keeping the member order) or appending it. 0, or JSON_ERR_TYPE (obj not an object),
 * JSON_ERR_NOMEM (obj unchanged). */
int json_set_number(struct cJSON *obj, const char *key, double v);

/* Serialises item: pretty (indented) or compact. malloc'd, caller frees; NULL out of memory. */
char *json_print(const struct cJSON *item, bool pretty);

/* Prints item and a newline to f. 0, or -1 when out of memory or the write failed. */
int json_write(FILE *f, const struct cJSON *item, bool pretty);

#endif
