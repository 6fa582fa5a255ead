/* testmodel: shared model fixtures of the tests. See testmodel.h. */
#include "testmodel.h"

#include <check.h>
#include <stdio.h>

#include "err.h"
#include "testutil.h"

struct model *testmodel_open_family(const char *family)
{
	char dir[1024], err[ERR_MAX];
	snprintf(dir, sizeof dir, "%s/families/%s", testutil_fixtures(), family);
	struct model *m = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "model_open(%s): %s", dir, err);
	return m;
}
