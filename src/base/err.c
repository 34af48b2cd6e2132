#include "base/err.h"

#include <string.h>

static const char *const al_err_text[] = {
#define AL_X_TEXT(name, text) text,
	AL_ERR_TABLE(AL_X_TEXT)
#undef AL_X_TEXT
};

const char *al_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err > AL_E__FIRST && err < AL_E__LAST)
		return al_err_text[err - AL_E__FIRST - 1];
	if (err < 0 && err > AL_ERR_BASE)
		return strerror(-err);
	return "unknown error";
}
