/* test_demo.c - `rollgate demo --json` tells both stories: the healthy change completes, the
 * bad one is rolled back with every touched organization equal to its snapshot */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "rollgate/util.h"
#include "support/testutil.h"

static void test_demo_tells_both_stories(void **state)
{
    char dir[4096], cmd[13000], out[4200], err[4200];
    char *text, *story;
    json_t *doc, *stories, *s;
    int status;
    (void)state;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(out, sizeof(out), "%s/out.json", dir);
    snprintf(err, sizeof(err), "%s/story.txt", dir);
    snprintf(cmd, sizeof(cmd),
             "TMPDIR='%s' ROLLGATE_SIM='%s/sim/rollgate-sim' '%s/cli/rollgate' "
             "demo --json >'%s' 2>'%s'",
             dir, rg_test_binary_dir(), rg_test_binary_dir(), out, err);
    status = system(cmd);
    text = rg_test_read_file(out, NULL);
    story = rg_test_read_file(err, NULL);
    assert_non_null(text);
    assert_non_null(story);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("demo exited %d: %s\n%s", status, text, story);
    doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    stories = json_object_get(doc, "stories");
    assert_int_equal(json_array_size(stories), 2);
    s = json_array_get(stories, 0);
    assert_string_equal(json_string_value(json_object_get(s, "story")), "healthy");
    assert_string_equal(json_string_value(json_object_get(s, "state")), "completed");
    s = json_array_get(stories, 1);
    assert_string_equal(json_string_value(json_object_get(s, "story")), "bad");
    assert_string_equal(json_string_value(json_object_get(s, "state")), "rolled_back");
    assert_true(json_is_true(json_object_get(s, "as_expected")));
    /* the story itself: the plan's diff, the approval, the stages, the trip, the check */
    assert_non_null(strstr(story, "modified  targets[queue_v2].weight: 0 -> 100"));
    assert_non_null(strstr(story, "approve "));
    assert_non_null(strstr(story, "stage 3/3 (100%) applied"));
    assert_non_null(strstr(story, "routes to queue_v2"));
    assert_non_null(strstr(story, "a critical metric trips on its first failure"));
    assert_non_null(strstr(story, "name, settings and targets equal the snapshot"));
    json_decref(doc);
    free(text);
    free(story);
    { /* the demo removed its temporary directory: only our two files are left */
        DIR *d = opendir(dir);
        struct dirent *ent;
        int others = 0;
        assert_non_null(d);
        while ((ent = readdir(d)) != NULL)
            others += strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0 &&
                      strcmp(ent->d_name, "out.json") != 0 && strcmp(ent->d_name, "story.txt") != 0;
        closedir(d);
        assert_int_equal(others, 0);
    }
    assert_int_equal(rg_test_rmtree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_demo_tells_both_stories)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
