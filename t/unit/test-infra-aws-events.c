/*
 * CloudFormation stack events (provider/aws/infra_apply.c): a
 * DescribeStackEvents answer as AWS gives it (newest first; the shape of the
 * CloudFormation API reference's example, with a failed create that rolled
 * back), read back to the last event seen, and the failure apply reports:
 * the first failed resource's reason, not the stack's own summary nor the
 * "Resource creation cancelled" that follows it.
 */
#include "mdeploy_private.h"
#include "aws/aws_private.h"
#include "provider/aws/infra.h"
#include "tap.h"

#include <libxml/tree.h>
#include <string.h>

#define EV(id, res, type, status, reason) \
	"<member><EventId>" id "</EventId><StackName>moodle-production-data</StackName>" \
	"<StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/moodle-production-data/1</StackId>" \
	"<LogicalResourceId>" res "</LogicalResourceId><PhysicalResourceId>p-" id "</PhysicalResourceId>" \
	"<ResourceType>" type "</ResourceType><Timestamp>2026-12-07T10:00:0" id "Z</Timestamp>" \
	"<ResourceStatus>" status "</ResourceStatus>" reason "</member>"
#define WHY(s) "<ResourceStatusReason>" s "</ResourceStatusReason>"
#define STACK "AWS::CloudFormation::Stack"

static const char answer[] =
	"<DescribeStackEventsResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">"
	"<DescribeStackEventsResult><StackEvents>"
	EV("9", "moodle-production-data", STACK, "ROLLBACK_COMPLETE", "")
	EV("8", "Bucket", "AWS::S3::Bucket", "DELETE_COMPLETE", "")
	EV("7", "moodle-production-data", STACK, "ROLLBACK_IN_PROGRESS",
	   WHY("The following resource(s) failed to create: [Cache, Database]. Rollback requested by user."))
	EV("6", "Database", "AWS::RDS::DBCluster", "CREATE_FAILED", WHY("Resource creation cancelled"))
	EV("5", "Cache", "AWS::ElastiCache::ReplicationGroup", "CREATE_FAILED",
	   WHY("Cache subnet group default does not exist"))
	EV("4", "Bucket", "AWS::S3::Bucket", "CREATE_COMPLETE", "")
	EV("3", "Database", "AWS::RDS::DBCluster", "CREATE_IN_PROGRESS", "")
	EV("2", "moodle-production-data", STACK, "CREATE_IN_PROGRESS", WHY("User Initiated"))
	EV("1", "moodle-production-data", STACK, "REVIEW_IN_PROGRESS", WHY("User Initiated"))
	"</StackEvents></DescribeStackEventsResult>"
	"<ResponseMetadata><RequestId>b9b4b068-3a41-11e5-94eb-example</RequestId></ResponseMetadata>"
	"</DescribeStackEventsResponse>";

int main(void)
{
	xmlDoc *doc = NULL;
	mdeploy_awsp__event *ev = NULL, *rev;
	size_t n = 0, i;
	int found = -1;
	long f;

	plan(14);
	is_int(0, mdeploy_aws__xml_parse(&doc, answer, sizeof(answer) - 1, "DescribeStackEvents"), "answer parsed");
	is_int(0, mdeploy_awsp__events_parse(doc, "1", &ev, &n, &found), "events since the REVIEW_IN_PROGRESS one");
	is_int(8, (long long)n, "... eight of them, the one seen before left out");
	ok(found, "... the last one seen was found (no older page needed)");
	is_str("9", n ? ev[0].id : NULL, "... newest first, as AWS answers");
	is_str("Cache subnet group default does not exist", n > 4 ? ev[4].reason : NULL, "... with their reasons");
	is_str("AWS::ElastiCache::ReplicationGroup", n > 4 ? ev[4].type : NULL, "... and resource types");

	/* oldest first, as apply streams them */
	rev = calloc(n ? n : 1, sizeof(*rev));
	for (i = 0; i < n; i++)
		rev[i] = ev[n - 1 - i];
	f = mdeploy_awsp__events_first_failure(rev, n);
	ok(f >= 0, "a failure is found");
	is_str("Cache", f >= 0 ? rev[f].resource : NULL, "... the first failed resource, not the cancelled one after it");
	is_str("Cache subnet group default does not exist", f >= 0 ? rev[f].reason : NULL, "... with its reason");
	/* only the stack's own failure: that one */
	f = mdeploy_awsp__events_first_failure(rev + 6, 2);
	is_int(-1, f, "no *_FAILED among later events: none");
	{
		mdeploy_awsp__event only[1];
		memset(only, 0, sizeof(only));
		only[0].resource = "s";
		only[0].type = STACK;
		only[0].status = "UPDATE_ROLLBACK_FAILED";
		only[0].reason = "The following resource(s) failed to update: [Database].";
		is_int(0, mdeploy_awsp__events_first_failure(only, 1), "the stack's own failure when no resource's is there");
	}
	free(rev);
	mdeploy_awsp__events_free(ev, n);

	ev = NULL;
	n = 0;
	is_int(0, mdeploy_awsp__events_parse(doc, "not-there", &ev, &n, &found), "since an event not on this page");
	ok(!found && n == 9, "... all nine, and not found (read the older page)");
	mdeploy_awsp__events_free(ev, n);
	xmlFreeDoc(doc);
	return done();
}
