/* json: the only file that includes cJSON's header. See json.h. */
#include "json.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* The "where: " prefix of a getter's message, nothing for an empty or NULL where (two args). */
#define WHERE(w) ((w) && *(w) ? (w) : ""), ((w) && *(w) ? ": " : "")

struct cJSON *json_parse(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root)
		return NULL;
	/* cJSON stops at the end of the value: anything but whitespace after it is an error */
	for (const char *p = end; p && p < text + len; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			cJSON_Delete(root);
			return NULL;
		}
	return root;
}

void json_free(struct cJSON *item)
{
	cJSON_Delete(item);
}

enum json_type json_type(const struct cJSON *it)
{
	if (!it || cJSON_IsInvalid(it))
		return JSON_TYPE_INVALID;
	if (cJSON_IsNull(it))
		return JSON_TYPE_NULL;
	if (cJSON_IsBool(it))
		return JSON_TYPE_BOOL;
	if (cJSON_IsNumber(it))
		return JSON_TYPE_NUMBER;
	if (cJSON_IsString(it))
		return JSON_TYPE_STRING;
	if (cJSON_IsArray(it))
		return JSON_TYPE_ARRAY;
	if (cJSON_IsObject(it))
		return JSON_TYPE_OBJECT;
	return JSON_TYPE_INVALID;
}

const char *json_type_name(enum json_type t)
{
	static const char *const names[] = {"invalid", "null", "boolean", "number",
					    "string", "array", "object"};
	return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "invalid";
}

const struct cJSON *json_get(const struct cJSON *obj, const char *key)
{
	return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

int json_count(const struct cJSON *it)
{
	return cJSON_IsArray(it) || cJSON_IsObject(it) ? cJSON_GetArraySize(it) : 0;
}

const struct cJSON *json_at(const struct cJSON *arr, int i)
{
	return cJSON_IsArray(arr) && i >= 0 ? cJSON_GetArrayItem(arr, i) : NULL;
}

const struct cJSON *json_child(const struct cJSON *it)
{
	return cJSON_IsArray(it) || cJSON_IsObject(it) ? it->child : NULL;
}

const struct cJSON *json_next(const struct cJSON *it)
{
	return it ? it->next : NULL;
}

const char *json_key(const struct cJSON *it)
{
	return it ? it->string : NULL;
}

double json_number(const struct cJSON *it)
{
	return cJSON_IsNumber(it) ? it->valuedouble : 0.0;
}

const char *json_string(const struct cJSON *it)
{
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

bool json_bool(const struct cJSON *it)
{
	return cJSON_IsTrue(it);
}

bool json_is_integer(const struct cJSON *it, double min, double max)
{
	if (!cJSON_IsNumber(it))
		return false;
	double v = it->valuedouble;
	return isfinite(v) && v == floor(v) && v >= min && v <= max;
}

static int member(const struct cJSON **out, const struct cJSON *obj, const char *key,
		  const char *where, char *err, size_t errlen)
{
	const cJSON *v = json_get(obj, key);
	if (!v)
		return err_set(err, errlen, JSON_ERR_MISSING, "%s%smissing field \"%s\"", WHERE(where),
			       key);
	*out = v;
	return JSON_OK;
}

/* member() that must also pass `is` (a cJSON_IsX); else JSON_ERR_TYPE "is not <noun>". */
static int typed_member(const struct cJSON **out, const struct cJSON *obj, const char *key,
			cJSON_bool (*is)(const cJSON *), const char *noun, const char *where,
			char *err, size_t errlen)
{
	const cJSON *v = NULL;
	int rc = member(&v, obj, key, where, err, errlen);
	if (rc)
		return rc;
	if (!is(v))
		return err_set(err, errlen, JSON_ERR_TYPE, "%s%s\"%s\" is not %s", WHERE(where), key,
			       noun);
	*out = v;
	return JSON_OK;
}

int json_get_int(long *out, const struct cJSON *obj, const char *key, long min, long max,
		 const char *where, char *err, size_t errlen)
{
	const cJSON *v = NULL;
	int rc = member(&v, obj, key, where, err, errlen);
	if (rc)
		return rc;
	if (!json_is_integer(v, -9007199254740992.0, 9007199254740992.0))
		return err_set(err, errlen, JSON_ERR_TYPE, "%s%s\"%s\" is not an integer", WHERE(where),
			       key);
	if (v->valuedouble < (double)min || v->valuedouble > (double)max)
		return err_set(err, errlen, JSON_ERR_RANGE,
			       "%s%s\"%s\" = %.17g is out of range [%ld, %ld]", WHERE(where), key,
			       v->valuedouble, min, max);
	*out = (long)v->valuedouble;
	return JSON_OK;
}

int json_get_int_or(long *out, const struct cJSON *obj, const char *key, long def, long min,
		    long max, const char *where, char *err, size_t errlen)
{
	if (!json_get(obj, key)) {
		*out = def;
		return JSON_OK;
	}
	return json_get_int(out, obj, key, min, max, where, err, errlen);
}

int json_get_double(double *out, const struct cJSON *obj, const char *key, double min, double max,
		    const char *where, char *err, size_t errlen)
{
	const cJSON *v = NULL;
	int rc = member(&v, obj, key, where, err, errlen);
	if (rc)
		return rc;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return err_set(err, errlen, JSON_ERR_TYPE, "%s%s\"%s\" is not a finite number",
			       WHERE(where), key);
	if (v->valuedouble < min || v->valuedouble > max)
		return err_set(err, errlen, JSON_ERR_RANGE, "%s%s\"%s\" = %g is out of range [%g, %g]",
			       WHERE(where), key, v->valuedouble, min, max);
	*out = v->valuedouble;
	return JSON_OK;
}

int json_get_double_or(double *out, const struct cJSON *obj, const char *key, double def,
		       double min, double max, const char *where, char *err, size_t errlen)
{
	if (!json_get(obj, key)) {
		*out = def;
		return JSON_OK;
	}
	return json_get_double(out, obj, key, min, max, where, err, errlen);
}

int json_get_string(const char **out, const struct cJSON *obj, const char *key, const char *where,
		    char *err, size_t errlen)
{
	const cJSON *v = NULL;
	int rc = typed_member(&v, obj, key, cJSON_IsString, "a string", where, err, errlen);
	if (!rc)
		*out = v->valuestring;
	return rc;
}

int json_get_bool_or(bool *out, const struct cJSON *obj, const char *key, bool def,
		     const char *where, char *err, size_t errlen)
{
	const cJSON *v = json_get(obj, key);
	if (!v) {
		*out = def;
		return JSON_OK;
	}
	if (!cJSON_IsBool(v))
		return err_set(err, errlen, JSON_ERR_TYPE, "%s%s\"%s\" is not true or false",
			       WHERE(where), key);
	*out = cJSON_IsTrue(v);
	return JSON_OK;
}

int json_get_array(const struct cJSON **out, int *n, const struct cJSON *obj, const char *key,
		   const char *where, char *err, size_t errlen)
{
	const cJSON *v = NULL;
	int rc = typed_member(&v, obj, key, cJSON_IsArray, "an array", where, err, errlen);
	if (!rc) {
		*out = v;
		*n = cJSON_GetArraySize(v);
	}
	return rc;
}

int json_get_object(const struct cJSON **out, const struct cJSON *obj, const char *key,
		    const char *where, char *err, size_t errlen)
{
	return typed_member(out, obj, key, cJSON_IsObject, "an object", where, err, errlen);
}

struct cJSON *json_new_object(void)
{
	return cJSON_CreateObject();
}

struct cJSON *json_new_array(void)
{
	return cJSON_CreateArray();
}

/* Attaches item to parent (by key for objects); frees item and returns NULL on failure. */
static cJSON *attach(cJSON *parent, const char *key, cJSON *item)
{
	if (!item || !parent)
		goto fail;
	if (cJSON_IsArray(parent)) {
		if (!cJSON_AddItemToArray(parent, item))
			goto fail;
	} else if (!key || !cJSON_AddItemToObject(parent, key, item)) {
		goto fail;
	}
	return item;
fail:
	cJSON_Delete(item);
	return NULL;
}

struct cJSON *json_add_object(struct cJSON *p, const char *key)
{
	return attach(p, key, cJSON_CreateObject());
}

struct cJSON *json_add_array(struct cJSON *p, const char *key)
{
	return attach(p, key, cJSON_CreateArray());
}

struct cJSON *json_add_number(struct cJSON *p, const char *key, double v)
{
	/* JSON has no NaN or infinity: write null rather than an unparsable token */
	return attach(p, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

struct cJSON *json_add_string(struct cJSON *p, const char *key, const char *s)
{
	return attach(p, key, s ? cJSON_CreateString(s) : cJSON_CreateNull());
}

struct cJSON *json_add_bool(struct cJSON *p, const char *key, bool v)
{
	return attach(p, key, cJSON_CreateBool(v));
}

struct cJSON *json_add_null(struct cJSON *p, const char *key)
{
	return attach(p, key, cJSON_CreateNull());
}

struct cJSON *json_add_uint64(struct cJSON *p, const char *key, uint64_t v)
{
	char digits[24];
	snprintf(digits, sizeof digits, "%" PRIu64, v);
	return attach(p, key, cJSON_CreateRaw(digits));
}

struct cJSON *json_add_int_array(struct cJSON *p, const char *key, const int *v, int n)
{
	return attach(p, key, n > 0 ? cJSON_CreateIntArray(v, n) : cJSON_CreateArray());
}

int json_set_number(struct cJSON *obj, const char *key, double v)
{
	if (!cJSON_IsObject(obj))
		return JSON_ERR_TYPE;
	cJSON *num = isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
	if (!num)
		return JSON_ERR_NOMEM;
	if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
		if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, num)) {
			cJSON_Delete(num);
			return JSON_ERR_NOMEM;
		}
		return JSON_OK;
	}
	if (!cJSON_AddItemToObject(obj, key, num)) {
		cJSON_Delete(num);
		return JSON_ERR_NOMEM;
	}
	return JSON_OK;
}

char *json_print(const struct cJSON *item, bool pretty)
{
	return pretty ? cJSON_Print(item) : cJSON_PrintUnformatted(item);
}

int json_write(FILE *f, const struct cJSON *item, bool pretty)
{
	char *s = json_print(item, pretty);
	if (!s)
		return -1;
	int rc = fputs(s, f) < 0 || fputc('\n', f) == EOF ? -1 : 0;
	free(s);
	return rc;
}
