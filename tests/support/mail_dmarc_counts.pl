#!/usr/bin/perl
# A real peer reads our aggregate report: Mail::DMARC (Debian libmail-dmarc-perl) parses the
# XML with its own receiving code (Mail::DMARC::Report::Receive's do_node_* methods, the ones
# handle_body calls) without saving to a store, and this prints what it understood:
#   report_id <id> / org_name <name> / begin <b> end <e> / policy <domain> <p>
#   record <source_ip> <count> <disposition> <header_from> <dkim entries> <spf entries>
#   total records <n> messages <sum of counts>
# Usage: mail_dmarc_counts.pl report.xml
use strict;
use warnings;
use Mail::DMARC::Report::Receive;
use XML::LibXML;

my $file = shift or die "usage: $0 report.xml\n";
open my $fh, '<:raw', $file or die "$file: $!\n";
my $xml = do { local $/; <$fh> };
close $fh;

my $receive = Mail::DMARC::Report::Receive->new;
my $dom = XML::LibXML->load_xml( string => $xml );
my ($feedback) = $dom->findnodes('/feedback');
die "Mail::DMARC found no /feedback element\n" unless $feedback;
$receive->do_node_report_metadata( $dom->findnodes('/feedback/report_metadata') );
$receive->do_node_policy_published( $dom->findnodes('/feedback/policy_published') );
$receive->do_node_record($_) for $dom->findnodes('/feedback/record');

my $aggregate = $receive->report->aggregate;
my $meta      = $aggregate->metadata;
my $policy    = $aggregate->policy_published;
print "report_id ", $meta->report_id, "\n";
print "org_name ", $meta->org_name, "\n";
print "begin ", $meta->begin, " end ", $meta->end, "\n";
print "policy ", $policy->domain, " ", $policy->p, "\n";
my ( $records, $messages ) = ( 0, 0 );
for my $record ( @{ $aggregate->record } ) {
    $records++;
    $messages += $record->row->count;
    my $dkim = $record->auth_results->dkim || [];
    my $spf  = $record->auth_results->spf  || [];
    print join( ' ',
        'record', $record->row->source_ip, $record->row->count,
        $record->row->policy_evaluated->disposition,
        $record->identifiers->header_from, scalar @$dkim, scalar @$spf ), "\n";
}
print "total records $records messages $messages\n";
